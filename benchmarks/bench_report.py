"""The targets of issue 18 as PASS/FAIL lines, and the files and README table of a run_all.py run.

    python benchmarks/bench_report.py [--results benchmarks/results/run_all.json] [--readme]

``benchmarks/run_all.py`` calls :func:`checks` and :func:`write_outputs` at its end (and
:func:`update_readme` with ``--readme``); run alone, this script reprints the checks of a
saved ``run_all.json`` and, with ``--readme``, rewrites the README's table between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` from it, without training anything.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"
FIT_LIMIT_S = 15.0          # every neural model, defaults, 100k interactions, 2 cores
TOWER_SHARE = 0.95          # TwoTowerDot and MMFusion against BPR-MF
WARM_TIE = 0.005            # best multimodal against best collaborative
COLD_FACTOR = 3.5           # cold items: VBPR and the best content model against random
TARGET_DATA = ("movielens",)  # where issue 18 states its targets; other data sets are for information


def _models(data: dict) -> dict[str, dict]:
    return {m["model"]: m for m in data["models"]}


def _line(name: str, target: str, ok: bool | None, detail: str) -> dict:
    status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
    return {"data": name, "target": target, "status": status, "detail": detail, "binding": name in TARGET_DATA}


def format_check(c: dict) -> str:
    """``PASS movielens: <target> (<detail>)``; lines of data sets without targets say "(info)"."""
    info = "" if c.get("binding", True) else " (info)"
    return f"{c['status']}{info} {c['data']}: {c['target']} ({c['detail']})"


def checks(results: dict) -> list[dict]:
    """One line per target of issue 18 and data set: status PASS, FAIL, or SKIP (a model
    or the Cornac run is missing)."""
    lines = []
    for name, data in results["data"].items():
        m = _models(data)
        r = {k: v["Recall@20"] for k, v in m.items()}
        lines.append(_bpr_vs_cornac(name, m))
        slow = {k: v["fit_s"] for k, v in m.items() if v.get("neural") and v["fit_s"] >= FIT_LIMIT_S}
        neural = [k for k, v in m.items() if v.get("neural")]
        lines.append(_line(name, f"every neural model fits in < {FIT_LIMIT_S:.0f} s", bool(neural) and not slow,
                           ", ".join(f"{k} {s:.1f} s" for k, s in slow.items())
                           or f"{len(neural)} models, slowest {max((m[k]['fit_s'] for k in neural), default=0):.1f} s"))
        for label in ("TwoTowerDot", "MMFusion"):
            ok = None if not {label, "BPR-MF"} <= set(r) else r[label] >= TOWER_SHARE * r["BPR-MF"]
            lines.append(_line(name, f"{label} >= {TOWER_SHARE:.0%} of BPR-MF Recall@20", ok,
                               f"{r.get(label, math.nan):.4f} vs {TOWER_SHARE} x {r.get('BPR-MF', math.nan):.4f}"))
        lines.append(_warm(name, m))
        lines.extend(_cold(name, data.get("cold")))
    return lines


def _bpr_vs_cornac(name: str, m: dict) -> dict:
    target = "BPR-MF >= Cornac BPR Recall@20 in <= 2x its fit time"
    if not {"BPR-MF", "Cornac BPR"} <= set(m):
        return _line(name, target, None, "BPR-MF or Cornac BPR not run")
    ours, ref = m["BPR-MF"], m["Cornac BPR"]
    ok = ours["Recall@20"] >= ref["Recall@20"] and ours["fit_s"] <= 2 * ref["fit_s"]
    return _line(name, target, ok, f"Recall@20 {ours['Recall@20']:.4f} vs {ref['Recall@20']:.4f}; "
                                   f"fit {ours['fit_s']:.1f} s vs {ref['fit_s']:.1f} s (limit {2 * ref['fit_s']:.1f} s)")


def _best(m: dict, kinds: tuple[str, ...]) -> tuple[str, float] | None:
    pool = {k: v["Recall@20"] for k, v in m.items() if v["kind"] in kinds}
    return max(pool.items(), key=lambda kv: kv[1]) if pool else None


def _warm(name: str, m: dict) -> dict:
    target = f"best multimodal within {WARM_TIE} of best collaborative Recall@20"
    mm, cf = _best(m, ("multimodal", "content")), _best(m, ("collaborative",))
    if mm is None or cf is None:
        return _line(name, target, None, "no multimodal or no collaborative model run")
    return _line(name, target, mm[1] >= cf[1] - WARM_TIE, f"{mm[0]} {mm[1]:.4f} vs {cf[0]} {cf[1]:.4f}")


def _cold(name: str, cold: list[dict] | None) -> list[dict]:
    out = []
    rows = {c["model"]: c for c in cold or []}
    content = max((c for c in rows.values() if c["kind"] == "content"), key=lambda c: c["x random"], default=None)
    for label, c in (("VBPR", rows.get("VBPR")), ("best content model", content)):
        target = f"cold items: {label} >= {COLD_FACTOR}x random Recall@20"
        if c is None:
            out.append(_line(name, target, None, "cold split not run"))
        else:
            out.append(_line(name, target, c["x random"] >= COLD_FACTOR,
                             f"{c['model']} {c['Recall@20']:.4f} = {c['x random']:.2f}x random"))
    return out


# -- files -------------------------------------------------------------------------------------
def machine_line(info: dict) -> str:
    gpu = f", {info['gpu']}" if info.get("gpu") else ""
    return (f"{info['cpu']}, {info['cores']} logical cores{gpu}; torch {info['torch']} with "
            f"{info['torch_threads']} thread(s), models trained with {info.get('model_threads', '?')} thread(s); "
            f"Python {info['python']}; {info['date']}")


def _fmt(v, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def data_table(data: dict) -> str:
    lines = ["| model | kind | Recall@20 | nDCG@20 | fit s | epochs | ms/epoch |", "|---|---|---|---|---|---|---|"]
    for m in data["models"]:
        lines.append(f"| {m['model']} | {m['kind']} | {_fmt(m['Recall@20'], 4)} | {_fmt(m['nDCG@20'], 4)} | "
                     f"{_fmt(m['fit_s'], 1)} | {int(m['epochs']) or '-'} | {_fmt(m['ms_per_epoch'], 1)} |")
    return "\n".join(lines)


def cold_table(cold: list[dict]) -> str:
    lines = ["| model | cold Recall@20 | x random |", "|---|---|---|"]
    lines += [f"| {c['model']} | {c['Recall@20']:.4f} | {c['x random']:.2f} |" for c in cold]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    parts = ["# benchmarks/run_all.py", "", f"Machine: {machine_line(results['machine'])}.",
             f"Split: {results['split']}; full ranking, training and validation items masked.", ""]
    for name, data in results["data"].items():
        s = data["stats"]
        parts += [f"## {name} ({s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions; "
                  f"split seeds {data['seeds']})", "", data_table(data), ""]
        if data.get("cold"):
            parts += [f"Cold-item split of {name}:", "", cold_table(data["cold"]), ""]
        if data.get("speed"):
            parts += [f"Same epochs and triples on {name}: " + ", ".join(
                f"{r['model']} {r['ms_per_epoch']:.1f} ms/epoch ({r['vs BPR-MF']:.2f}x)" for r in data["speed"]), ""]
    parts += ["## Targets (issue 18)", "", f"Stated for {', '.join(TARGET_DATA)}; lines marked (info) are not targets.", ""]
    parts += [f"- {format_check(c)}" for c in results.get("checks", [])]
    return "\n".join(parts) + "\n"


def write_outputs(results: dict, out: Path) -> list[Path]:
    """``run_all.md``, ``run_all.csv`` (one row per data set and model) and ``run_all.json``."""
    out.mkdir(parents=True, exist_ok=True)
    md, csv, js = out / "run_all.md", out / "run_all.csv", out / "run_all.json"
    md.write_text(markdown(results))
    rows = [{"data": name, **m} for name, data in results["data"].items() for m in data["models"]]
    rows += [{"data": f"{name} (cold items)", **c} for name, data in results["data"].items()
             for c in data.get("cold", [])]
    pd.DataFrame(rows).to_csv(csv, index=False)
    js.write_text(json.dumps(results, indent=1, default=str))
    return [md, csv, js]


# -- README ------------------------------------------------------------------------------------
def readme_block(results: dict) -> str:
    """The generated README text: machine, one table per data set, cold ratios, targets."""
    body = [f"Generated by `python benchmarks/run_all.py --readme` on {machine_line(results['machine'])}. "
            f"Split: {results['split']}; full ranking.", ""]
    for name, data in results["data"].items():
        s = data["stats"]
        body += [f"**{name}** ({s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions)", "",
                 data_table(data), ""]
        if data.get("cold"):
            ratios = ", ".join(f"{c['model']} {c['x random']:.1f}x" for c in data["cold"] if c["model"] != "Random")
            body += [f"Cold items of {name} (Recall@20 as a multiple of random ranking): {ratios}.", ""]
    body += [f"Targets of issue 18 (stated for {', '.join(TARGET_DATA)}; lines marked (info) are not targets):", ""]
    body += [f"- {format_check(c)}" for c in results.get("checks", [])]
    return "\n".join(body)


def update_readme(results: dict, readme: Path = README) -> Path:
    """Replace the text between the bench markers of ``readme`` with :func:`readme_block`."""
    text = readme.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ValueError(f"{readme} lacks the markers {START} ... {END}; add them where the table goes.")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{readme_block(results)}\n{END}{tail}")
    return readme


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "results" / "run_all.json"))
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args()
    results = json.loads(Path(args.results).read_text())
    results["checks"] = checks(results)
    for c in results["checks"]:
        print(format_check(c))
    if args.readme:
        print(f"README table updated: {update_readme(results)}")


if __name__ == "__main__":
    main()
