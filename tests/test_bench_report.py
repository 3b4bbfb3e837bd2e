"""benchmarks/bench_report.py: the issue-18 targets as PASS/FAIL lines, the files, the README block."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_report as br  # noqa: E402


def model(name, kind, recall, fit_s, neural=True, epochs=10, ms=5.0):
    return {"model": name, "kind": kind, "neural": neural, "Recall@20": recall, "nDCG@20": recall / 2,
            "fit_s": fit_s, "epochs": epochs, "ms_per_epoch": ms}


def results(bpr=0.30, cornac=0.29, bpr_fit=3.0, cornac_fit=2.0, dot=0.29, vbpr_cold=0.05):
    models = [model("Random", "baseline", 0.01, 0.0, neural=False, epochs=0, ms=float("nan")),
              model("EASE", "collaborative", 0.31, 0.5, neural=False, epochs=0, ms=float("nan")),
              model("BPR-MF", "collaborative", bpr, bpr_fit),
              model("TwoTowerDot", "collaborative", dot, 4.0),
              model("VBPR", "multimodal", 0.306, 16.0),
              model("MMFusion", "multimodal", 0.29, 5.0),
              model("Cornac BPR", "cornac collaborative", cornac, cornac_fit, neural=False)]
    cold = [{"model": "Random", "kind": "baseline", "Recall@20": 0.01, "x random": 1.0},
            {"model": "VBPR", "kind": "multimodal", "Recall@20": vbpr_cold, "x random": vbpr_cold / 0.01},
            {"model": "CLIPContent (text)", "kind": "content", "Recall@20": 0.02, "x random": 2.0}]
    return {"machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.x", "torch_threads": 1, "python": "3.11",
                        "date": "today"},
            "split": "per-user random", "data": {"toy": {"stats": {"users": 3, "items": 4, "interactions": 5},
                                                         "seeds": [42], "models": models, "cold": cold}}}


def test_checks_pass_and_fail_on_the_numbers():
    lines = br.checks(results())
    by_target = {c["target"]: c["status"] for c in lines}
    assert by_target["BPR-MF >= Cornac BPR Recall@20 in <= 2x its fit time"] == "PASS"
    assert by_target["every neural model fits in < 15 s"] == "FAIL"            # VBPR 16 s
    assert by_target["TwoTowerDot >= 95% of BPR-MF Recall@20"] == "PASS"         # 0.29 >= 0.285
    assert by_target["MMFusion >= 95% of BPR-MF Recall@20"] == "PASS"
    assert by_target["best multimodal within 0.005 of best collaborative Recall@20"] == "PASS"  # 0.306 vs 0.31
    assert by_target["cold items: VBPR >= 3.5x random Recall@20"] == "PASS"
    assert by_target["cold items: best content model >= 3.5x random Recall@20"] == "FAIL"
    slow = br.checks(results(bpr_fit=4.5, dot=0.28, vbpr_cold=0.03))
    by_target = {c["target"]: c["status"] for c in slow}
    assert by_target["BPR-MF >= Cornac BPR Recall@20 in <= 2x its fit time"] == "FAIL"
    assert by_target["TwoTowerDot >= 95% of BPR-MF Recall@20"] == "FAIL"
    assert by_target["cold items: VBPR >= 3.5x random Recall@20"] == "FAIL"


def test_missing_models_skip():
    res = results()
    res["data"]["toy"]["models"] = [m for m in res["data"]["toy"]["models"] if m["model"] != "Cornac BPR"]
    del res["data"]["toy"]["cold"]
    by_target = {c["target"]: c["status"] for c in br.checks(res)}
    assert by_target["BPR-MF >= Cornac BPR Recall@20 in <= 2x its fit time"] == "SKIP"
    assert by_target["cold items: VBPR >= 3.5x random Recall@20"] == "SKIP"


def test_files_and_readme_block(tmp_path):
    res = results()
    res["checks"] = br.checks(res)
    md, csv, js = br.write_outputs(res, tmp_path / "out")
    assert "Test CPU, 2 logical cores" in md.read_text() and "| BPR-MF | collaborative | 0.3000 |" in md.read_text()
    assert csv.read_text().count("\n") == 7 + 3 + 1
    assert json.loads(js.read_text())["checks"][0]["status"] == "PASS"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{br.START}\nold table\n{br.END}\nafter\n")
    br.update_readme(res, readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{br.END}\nafter\n")
    assert "| VBPR | multimodal | 0.3060 |" in text and "VBPR 5.0x" in text and "FAIL (info) toy" in text
    br.update_readme(res, readme)
    assert readme.read_text() == text                                          # idempotent
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        br.update_readme(res, readme)
