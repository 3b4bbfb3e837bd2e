"""The command line: ``python -m handson doctor`` and the demo's model list (CI runs the demo itself)."""
from __future__ import annotations

import subprocess
import sys

from handson import models
from handson.__main__ import _models


def test_demo_fits_every_model_class_of_the_library():
    classes = {type(m).__name__ for m in _models(seed=0).values()}
    every = set(models._LAZY) - {"TorchRecommender"}
    assert every <= classes, f"the demo misses {sorted(every - classes)}"


def test_demo_learned_models_keep_their_validation_schedule_and_stay_quiet():
    for name, model in _models(seed=0).items():
        if hasattr(model, "epochs"):
            default = type(model)()
            assert model.verbose is False, name
            assert (model.eval_every, model.patience, model.epochs) == (default.eval_every, default.patience,
                                                                        default.epochs), name


def test_doctor_prints_versions_and_offline_encoders():
    out = subprocess.run([sys.executable, "-m", "handson", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for word in ("python", "torch", "device"):
        assert word in out.stdout.lower(), out.stdout


def test_unknown_command_fails_with_usage():
    out = subprocess.run([sys.executable, "-m", "handson", "fly"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "invalid choice" in out.stderr


def _recommend(tmp_path, *args):
    out = subprocess.run([sys.executable, "-m", "handson", "recommend", *args], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out


def test_recommend_writes_raw_ids_never_seen_items_quickly(tmp_path):
    import json
    import time

    from handson import datasets
    ds = datasets.load("toyshop")                 # cached, as on any second run
    t0 = time.perf_counter()
    _recommend(tmp_path, "--dataset", "toyshop", "--model", "EASE", "--users", "u0001", "u0002",
               "--k", "10", "--out", "recs.json")
    seconds = time.perf_counter() - t0
    assert seconds < 10, f"recommend took {seconds:.1f} s"
    data = json.loads((tmp_path / "recs.json").read_text())
    assert [u["user"] for u in data["users"]] == ["u0001", "u0002"]
    inter = ds.interactions
    for entry in data["users"]:
        items = [it["item"] for it in entry["items"]]
        assert len(items) == 10 and set(items) <= set(ds.item_ids)
        had = set(ds.item_ids[inter.items[inter.users == ds.user_index(entry["user"])]])
        assert not had & set(items), "an item the user already has was recommended"


def test_recommend_users_file_sample_csv_save_and_load(tmp_path):
    import pandas as pd
    (tmp_path / "users.txt").write_text("u0005\nu0006\n")
    _recommend(tmp_path, "--model", "MostPop", "--users-file", "users.txt", "--k", "3", "--out", "a.csv",
               "--save", "pop.npz")
    first = pd.read_csv(tmp_path / "a.csv")
    assert first["user"].tolist() == ["u0005"] * 3 + ["u0006"] * 3
    _recommend(tmp_path, "--load", "pop.npz", "--users", "u0005", "u0006", "--k", "3", "--out", "b.csv")
    assert pd.read_csv(tmp_path / "b.csv").equals(first)
    printed = _recommend(tmp_path, "--model", "MostPop", "--sample-users", "2", "--k", "2").stdout
    assert printed.count("\n") >= 5 and "rank" in printed


def test_recommend_unknown_user_fails_cleanly(tmp_path):
    out = subprocess.run([sys.executable, "-m", "handson", "recommend", "--users", "nobody"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode != 0 and "Unknown user id" in out.stderr


def test_recommend_mmr_reranks_the_models_lists(tmp_path):
    import json

    from handson import datasets
    ds = datasets.load("toyshop")
    args = ("--dataset", "toyshop", "--model", "EASE", "--users", "u0001", "u0002", "--k", "10")
    _recommend(tmp_path, *args, "--out", "plain.json")
    _recommend(tmp_path, *args, "--mmr", "1.0", "--out", "same.json")
    _recommend(tmp_path, *args, "--mmr", "0.2", "--mmr-space", "text", "--out", "diverse.json")
    lists = {name: [[it["item"] for it in u["items"]] for u in json.loads((tmp_path / f"{name}.json").read_text())["users"]]
             for name in ("plain", "same", "diverse")}
    assert lists["same"] == lists["plain"]            # lam = 1 keeps the model's own ranking
    assert lists["diverse"] != lists["plain"]
    inter = ds.interactions
    for user, items in zip(("u0001", "u0002"), lists["diverse"]):
        had = set(ds.item_ids[inter.items[inter.users == ds.user_index(user)]])
        assert len(items) == 10 and not had & set(items)
