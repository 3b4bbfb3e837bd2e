"""Hyper-parameter search on validation data (handson.tuning): grid, random, Optuna."""
import inspect
import sys

import numpy as np
import pytest

from handson import datasets, evaluation, split, tuning
from handson.datasets import Interactions
from handson.models import BPR, EASE, Recommender
from loader_fixtures import shared_ml as _shared_ml


@pytest.fixture(scope="module")
def toy():
    ds = datasets.load("toyshop")
    return split.random_split(ds, test=0.2, valid=0.1, seed=11)


@pytest.fixture(scope="module")
def tiny():
    """A small random catalog: 60 users, 40 items, fast enough for many EASE fits."""
    rng = np.random.default_rng(0)
    users, items = np.repeat(np.arange(60), 8), rng.integers(0, 40, size=480)
    pairs = Interactions(users, items, 60, 40).to_csr().tocoo()         # distinct (user, item) pairs
    inter = Interactions(pairs.row, pairs.col, 60, 40)
    ds = datasets.Dataset("tiny", inter, __import__("pandas").DataFrame({"item_id": np.arange(40)}),
                          np.arange(60))
    return split.random_split(ds, test=0.2, valid=0.2, seed=0)


def test_grid_runs_the_defaults_first_then_every_combination(toy):
    train, valid, _ = toy
    res = tuning.search(EASE, train, valid, {"lam": [50.0, 200.0, 800.0]}, progress=False)
    assert res.trials["trial"].tolist() == [0, 1, 2] and res.trials["lam"].tolist() == [200.0, 50.0, 800.0]
    assert res.defaults == {"lam": 200.0} and res.best_score >= res.default_score
    best = res.trials.loc[res.trials["Recall@20"].idxmax()]
    assert res.best_params == {"lam": best["lam"]}
    direct = evaluation.evaluate(EASE(lam=50.0).fit(train), valid, seen=[train], k=(20,))["Recall@20"]
    assert res.trials.loc[1, "Recall@20"] == pytest.approx(direct)
    assert res.model.lam == res.best_params["lam"] and {"seconds", "state", "epochs"} <= set(res.trials)
    with pytest.raises(ValueError, match="a grid needs lists"):
        tuning.search(EASE, train, valid, {"lam": tuning.LogUniform(1, 1000)})
    with pytest.raises(ValueError, match="not hyper-parameters"):
        tuning.search(EASE, train, valid, {"alpha": [1]})


def test_random_is_reproducible_within_the_ranges_and_counts_the_defaults(tiny):
    train, valid, _ = tiny
    space = {"lam": tuning.LogUniform(1.0, 1000.0), "max_items": tuning.IntRange(100, 200)}
    a = tuning.search(EASE, train, valid, space, method="random", n_trials=5, seed=3, progress=False)
    b = tuning.search(EASE, train, valid, space, method="random", n_trials=5, seed=3, progress=False)
    assert a.trials.drop(columns="seconds").equals(b.trials.drop(columns="seconds")) and len(a.trials) == 5
    drawn = a.trials.iloc[1:]
    assert drawn["lam"].between(1, 1000).all() and drawn["max_items"].between(100, 200).all()
    assert isinstance(a.best_params["max_items"], int) and a.trials.loc[0, "lam"] == 200.0


def test_bpr_search_prunes_nothing_and_keeps_integers(toy):
    train, valid, _ = toy
    res = tuning.search(BPR, train, valid, {"factors": [16, 32]}, method="random", n_trials=2,
                        fixed={"epochs": 3, "eval_every": 1}, progress=False)
    assert res.trials["epochs"].tolist() == [3, 3] and isinstance(res.best_params["factors"], int)
    assert res.model.verbose is False and res.model.metric == "Recall@20"


class Oracle(Recommender):
    """Knows the answers: ranks the items of ``sets[target]`` first. Its default cheats on test."""

    sets: dict = {}

    def __init__(self, target: str = "test"):
        self.target = target

    def _fit(self, train, item_features, valid):
        self.truth_ = self.sets[self.target].to_csr()

    def _score(self, users):
        return self.truth_[users].toarray()


def test_the_choice_never_depends_on_the_test_set(toy):
    """A search that looked at test would pick the model that ranks the test items first."""
    train, valid, test = toy
    assert "test" not in inspect.signature(tuning.search).parameters
    choices = []
    for poisoned in (test, split.random_split(datasets.load("toyshop"), test=0.2, seed=99)[-1]):
        Oracle.sets = {"valid": valid, "test": poisoned}
        res = tuning.search(Oracle, train, valid, {"target": ["test", "valid"]}, progress=False)
        choices.append((res.best_params, res.best_score))
    assert choices[0] == choices[1] and choices[0][0] == {"target": "valid"}
    cheat = evaluation.evaluate(Oracle("test").fit(train), test, seen=[train, valid], k=(20,))["Recall@20"]
    assert cheat > evaluation.evaluate(res.model, test, seen=[train, valid], k=(20,))["Recall@20"]


def test_on_trial_sees_each_fitted_model_and_refit_uses_train_and_valid(tiny):
    train, valid, _ = tiny
    seen = []
    res = tuning.search(EASE, train, valid, {"lam": [10.0, 50.0]}, refit=True, progress=False,
                        on_trial=lambda model, row: seen.append((model.lam, row["trial"])))
    assert seen == [(200.0, 0), (10.0, 1), (50.0, 2)]
    assert res.refitted and res.model.train_.nnz == (train.to_csr() + valid.to_csr()).nnz


class Flaky(EASE):
    """EASE that gets interrupted (Ctrl-C) at the fit number ``Flaky.stop``."""

    fits, stop = 0, None

    def _fit(self, train, item_features, valid):
        Flaky.fits += 1
        if Flaky.fits == Flaky.stop:
            raise KeyboardInterrupt
        super()._fit(train, item_features, valid)


def test_optuna_resumes_an_interrupted_study_from_sqlite(tiny, tmp_path):
    pytest.importorskip("optuna")
    train, valid, _ = tiny
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    space = {"lam": tuning.LogUniform(1.0, 1000.0)}
    Flaky.fits, Flaky.stop = 0, 3
    with pytest.raises(KeyboardInterrupt):
        tuning.search(Flaky, train, valid, space, method="optuna", n_trials=5, storage=storage, progress=False)
    Flaky.fits, Flaky.stop = 0, None
    ran = []
    res = tuning.search(Flaky, train, valid, space, method="optuna", n_trials=5, storage=storage, progress=False,
                        on_trial=lambda model, row: ran.append(row["trial"]))
    states = res.trials["state"].tolist()
    assert states.count("complete") == 5 and states.count("fail") == 1
    assert ran == [3, 4, 5], "the two finished trials were run again"
    winner = int(res.trials.loc[res.trials["Recall@20"].idxmax(), "trial"])
    assert Flaky.fits == 3 + (winner < 2)          # a winner of the first run is fitted once more
    assert res.model.lam == res.best_params["lam"]
    assert res.trials.loc[0, "lam"] == 200.0                  # trial 0 is the defaults, run once
    assert res.trials["lam"].nunique() == len(res.trials)     # the resumed sampler does not replay its draws
    assert res.best_score == res.trials.loc[res.trials["state"] == "complete", "Recall@20"].max()


def test_optuna_prunes_through_the_training_loop(toy):
    pytest.importorskip("optuna")
    train, valid, _ = toy
    reports = []
    res = tuning.search(BPR, train, valid, {"lr": [2e-3, 1e-7]}, method="optuna", n_trials=6, seed=0,
                        fixed={"epochs": 4, "eval_every": 1, "factors": 16}, progress=False,
                        on_trial=lambda model, row: reports.append(row["trial"]))
    assert "pruned" in res.trials["state"].tolist()
    assert len(reports) == (res.trials["state"] == "complete").sum()
    assert res.study.best_trial.number == res.trials.loc[res.trials["Recall@20"].idxmax(), "trial"] or \
        res.best_score == res.study.best_value


def test_grid_and_random_work_without_optuna(tiny, monkeypatch):
    train, valid, _ = tiny
    monkeypatch.setitem(sys.modules, "optuna", None)          # "import optuna" now fails
    with pytest.raises(ImportError, match=r"handson\[tune\]"):
        tuning.search(EASE, train, valid, {"lam": [10.0]}, method="optuna", progress=False)
    assert len(tuning.search(EASE, train, valid, {"lam": [10.0]}, method="random", n_trials=2,
                             progress=False).trials) == 2


def test_bad_arguments_are_named(tiny):
    train, valid, _ = tiny
    with pytest.raises(ValueError, match="method"):
        tuning.search(EASE, train, valid, {"lam": [1.0]}, method="bayes")
    with pytest.raises(ValueError, match="metric"):
        tuning.search(EASE, train, valid, {"lam": [1.0]}, metric="recall")
    with pytest.raises(ValueError, match="low < high"):
        tuning.Uniform(2.0, 1.0)
    with pytest.raises(ValueError, match="non-empty list"):
        tuning.search(EASE, train, valid, {"lam": []})


def test_a_searched_value_overrides_the_same_fixed_one(tiny):
    train, valid, _ = tiny
    res = tuning.search(EASE, train, valid, {"lam": [10.0]}, fixed={"lam": 50.0}, progress=False)
    assert res.trials["lam"].tolist() == [50.0, 10.0]          # trial 0: the defaults with fixed applied


@pytest.mark.slow
@pytest.mark.skipif(_shared_ml() is None, reason="no shared ml-latest-small copy (HANDSON_ML_DIR)")
def test_random_search_on_movielens_matches_or_beats_the_defaults():
    """8 random trials of BPR-MF, each capped at 5 epochs to keep the test under a minute
    (benchmarks/tune_bpr.py runs the same search with 60 epochs)."""
    ds = datasets.load("movielens-latest-small", root=_shared_ml())
    train, valid, _ = split.random_split(ds, test=0.2, valid=0.1, seed=42)
    space = {"reg": tuning.LogUniform(1e-4, 3e-2), "lr": tuning.LogUniform(1e-3, 1e-2)}
    res = tuning.search(BPR, train, valid, space, method="random", n_trials=8, seed=42,
                        fixed={"epochs": 5, "eval_every": 5}, progress=False)
    assert len(res.trials) == 8 and (res.trials["state"] == "complete").all()
    assert res.best_score >= res.default_score > 0


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tiny):
    train, valid, _ = tiny
    with pytest.warns(UserWarning, match="trial 1"):
        res = tuning.search(EASE, train, valid, {"lam": [-1.0, 10.0]}, progress=False)
    assert res.trials["state"].tolist() == ["complete", "fail", "complete"]
    assert np.isnan(res.trials.loc[1, "Recall@20"]) and res.best_params["lam"] in (200.0, 10.0)
