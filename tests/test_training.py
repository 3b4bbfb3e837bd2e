"""handson.training: samplers, losses, the fit loop (early stopping, determinism, checkpoints)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handson import training
from handson.datasets import Interactions
from handson.models import BPR


def planted(n_users: int = 300, n_items: int = 200, groups: int = 6, per_user: int = 20,
            seed: int = 0) -> Interactions:
    """Users and items in ``groups`` clusters; 85% of a user's items come from their cluster."""
    rng = np.random.default_rng(seed)
    ug, ig = rng.integers(0, groups, n_users), np.arange(n_items) % groups
    users = np.repeat(np.arange(n_users), per_user)
    own = rng.random(len(users)) < 0.85
    by_group = [np.nonzero(ig == g)[0] for g in range(groups)]
    items = np.where(own, [rng.choice(by_group[ug[u]]) for u in users],
                     rng.integers(0, n_items, len(users)))
    inter = Interactions(users, items, n_users, n_items)
    csr = inter.to_csr().tocoo()
    return Interactions(csr.row, csr.col, n_users, n_items)


def split(inter: Interactions, frac: float = 0.2, seed: int = 1) -> tuple[Interactions, Interactions]:
    mask = np.random.default_rng(seed).random(len(inter)) < frac
    return inter.subset(~mask), inter.subset(mask)


@pytest.fixture(scope="module")
def data():
    inter = planted()
    train, test = split(inter)
    return train, test




# -- the loop ------------------------------------------------------------------------------
def test_bpr_learns_and_records_history(data):
    train, test = data
    model = BPR(factors=16, epochs=6, eval_every=2, patience=10, verbose=False).fit(train, valid=test)
    frame = model.history_.to_frame()
    assert list(frame.index) == list(range(1, 7))
    assert frame["loss"].iloc[-1] < frame["loss"].iloc[0]
    assert frame["Recall@20"].notna().sum() == 3
    assert model.history_.best_epoch in frame.index
    assert model.fit_seconds_ > 0


def test_early_stopping_restores_best_weights(data):
    train, valid = data
    # a large learning rate without regularization overfits quickly: validation peaks early
    model = BPR(factors=64, lr=0.05, reg=0.0, epochs=60, eval_every=1, patience=3,
                verbose=False).fit(train, valid=valid)
    hist = model.history_
    assert hist.stopped_early and len(hist) < 60
    assert hist.best_epoch < len(hist)
    from handson.evaluation import evaluate
    now = evaluate(model, valid, seen=[train], k=20, progress=False)["Recall@20"]
    assert now == pytest.approx(hist.best_score, abs=1e-9)
    last = hist.to_frame()["Recall@20"].iloc[-1]
    assert hist.best_score > last


def _bpr_batch_loss(train, **kw):
    """BPR's loss on one fixed batch, with biases set to 1 so that their penalty shows."""
    model = BPR(factors=8, epochs=1, n_negatives=3, verbose=False, seed=0, **kw).fit(train)
    with torch.no_grad():
        model.module_.bias.fill_(1.0)
    users = torch.tensor([0, 1, 2, 3])
    batch = {"users": users, "pos": torch.tensor([1, 2, 3, 4]), "neg": torch.tensor([[5, 6, 7]] * 4)}
    with torch.no_grad():
        return model._batch_loss(batch).item()


def test_bpr_item_bias_penalty(data):
    """reg_bias adds reg_bias * (sum of the squared biases of the batch's items) / batch size;
    None means the same weight as reg, 0 switches it off."""
    train, _ = data
    off = _bpr_batch_loss(train, reg=0.01, reg_bias=0.0)
    same = _bpr_batch_loss(train, reg=0.01)
    explicit = _bpr_batch_loss(train, reg=0.01, reg_bias=0.01)
    double = _bpr_batch_loss(train, reg=0.01, reg_bias=0.02)
    # 4 users x (1 positive + 3 negatives) biases of 1 -> 16 squared biases over a batch of 4
    assert same == pytest.approx(explicit, rel=1e-6)
    assert same - off == pytest.approx(0.01 * 16 / 4, rel=1e-4)
    assert double - off == pytest.approx(0.02 * 16 / 4, rel=1e-4)


def test_bpr_penalised_biases_stay_smaller(data):
    train, _ = data
    norms = {rb: BPR(factors=8, epochs=10, lr=0.05, reg_bias=rb, verbose=False, seed=0)
             .fit(train).module_.bias.detach().norm().item() for rb in (0.0, 0.5)}
    assert norms[0.5] < 0.5 * norms[0.0], norms


def test_same_seed_same_scores_other_seed_other_scores(data):
    train, valid = data
    kw = dict(factors=16, epochs=3, eval_every=1, verbose=False)
    a = BPR(seed=7, **kw).fit(train, valid=valid).score(np.arange(50))
    b = BPR(seed=7, **kw).fit(train, valid=valid).score(np.arange(50))
    c = BPR(seed=8, **kw).fit(train, valid=valid).score(np.arange(50))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_checkpoint_resume_equals_uninterrupted_training(data, tmp_path):
    train, valid = data
    kw = dict(factors=16, eval_every=2, patience=10, verbose=False)
    ckpt = tmp_path / "bpr.pt"
    BPR(epochs=4, **kw).fit(train, valid=valid, checkpoint=ckpt)
    resumed = BPR(epochs=8, **kw).fit(train, valid=valid, resume_from=ckpt)
    straight = BPR(epochs=8, **kw).fit(train, valid=valid)
    assert np.array_equal(resumed.score(np.arange(train.n_users)), straight.score(np.arange(train.n_users)))
    cols = ["loss", "Recall@20"]
    pd_resumed, pd_straight = resumed.history_.to_frame()[cols], straight.history_.to_frame()[cols]
    assert pd_resumed.equals(pd_straight)
    # save_checkpoint after fit keeps the last epoch's weights (not the restored best ones)
    resumed.save_checkpoint(tmp_path / "again.pt")
    more = BPR(epochs=10, **kw).fit(train, valid=valid, resume_from=tmp_path / "again.pt")
    longer = BPR(epochs=10, **kw).fit(train, valid=valid)
    assert np.array_equal(more.score(np.arange(10)), longer.score(np.arange(10)))


# -- bad input -----------------------------------------------------------------------------
def test_empty_interactions_are_rejected():
    empty = Interactions(np.zeros(0, int), np.zeros(0, int), 5, 5)
    with pytest.raises(ValueError, match="empty"):
        BPR(epochs=1, verbose=False).fit(empty)


def test_valid_from_another_catalog_is_rejected(data):
    train, _ = data
    other = Interactions([0, 1], [0, 1], train.n_users, train.n_items + 3)
    with pytest.raises(ValueError, match="different catalogs"):
        BPR(epochs=1, verbose=False).fit(train, valid=other)


def test_nan_loss_stops_with_lower_lr_advice(data):
    train, _ = data
    with pytest.raises(ValueError, match="Lower the learning rate"):
        BPR(lr=1e30, epochs=3, verbose=False).fit(train)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"lr": -1.0}, "lr must be a positive number"),
    ({"metric": "Recall"}, "metric must look like"),
    ({"optimizer": "rmsprop"}, "optimizer must be"),
    ({"precision": "fp8"}, "precision must be"),
    ({"reg": -0.1}, "reg must be >= 0"),
    ({"init_std": 0.0}, "init_std must be > 0"),
    ({"reg_bias": -1.0}, "reg_bias must be None"),
])
def test_bad_hyper_parameters(data, kwargs, match):
    train, _ = data
    with pytest.raises(ValueError, match=match):
        BPR(verbose=False, **{"epochs": 1, **kwargs}).fit(train)


def test_wrong_checkpoint_is_rejected(data, tmp_path):
    from handson.models import LightGCN

    train, _ = data
    ckpt = tmp_path / "bpr.pt"
    BPR(factors=8, epochs=1, verbose=False).fit(train, checkpoint=ckpt)
    with pytest.raises(ValueError, match="written by BPR, not LightGCN"):
        LightGCN(factors=8, epochs=2, verbose=False).fit(train, resume_from=ckpt)
    with pytest.raises(ValueError, match="other parameter shapes"):
        BPR(factors=16, epochs=2, verbose=False).fit(train, resume_from=ckpt)
    smaller = Interactions(train.users, train.items, train.n_users, train.n_items + 1)
    with pytest.raises(ValueError, match="trained on"):
        BPR(factors=8, epochs=2, verbose=False).fit(smaller, resume_from=ckpt)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read checkpoint"):
        BPR(factors=8, epochs=2, verbose=False).fit(train, resume_from=junk)
    with pytest.raises(ValueError, match="does not exist"):
        BPR(factors=8, epochs=2, verbose=False).fit(train, resume_from=tmp_path / "missing.pt")


def test_save_checkpoint_before_fit_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        BPR().save_checkpoint(tmp_path / "x.pt")


def test_threads_setting_is_restored_after_fit_and_checked():
    rng = np.random.default_rng(0)
    train = Interactions(rng.integers(0, 30, 300), rng.integers(0, 40, 300), n_users=30, n_items=40)
    before = torch.get_num_threads()
    BPR(epochs=1, verbose=False, threads=1).fit(train)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        BPR(epochs=1, verbose=False, threads=0).fit(train)


def test_fit_keeps_one_documented_training_state(data):
    train, test = data
    model = BPR(factors=8, epochs=3, eval_every=1, verbose=False).fit(train, valid=test)
    state = model.training_
    assert isinstance(state, training.TrainState) and state.history is model.history_
    assert state.epoch == 3 and state.best_state is not None
    assert not any(k.startswith("_train_state") or k.startswith("_last_weights") for k in vars(model))


def test_training_does_not_import_the_models():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(training))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    top += [n for b in tree.body if isinstance(b, ast.If) for n in b.body if isinstance(n, ast.ImportFrom)]
    assert not [n.module for n in top if isinstance(n, ast.ImportFrom) and "models" in (n.module or "")]


def test_on_validation_sees_every_validation_and_may_stop_training(data):
    train, valid = data[:2]
    calls = []
    BPR(factors=8, epochs=6, eval_every=2, verbose=False).fit(
        train, valid=valid, on_validation=lambda epoch, record: calls.append((epoch, record["Recall@20"])))
    assert [e for e, _ in calls] == [2, 4, 6] and all(0 <= r <= 1 for _, r in calls)

    class Stop(Exception):
        pass

    def stop(epoch, record):
        raise Stop(epoch)

    with pytest.raises(Stop, match="2"):
        BPR(factors=8, epochs=6, eval_every=2, verbose=False).fit(train, valid=valid, on_validation=stop)


# -- progress output -----------------------------------------------------------------------
def test_progress_is_one_summary_line_when_output_is_not_a_terminal(data, capsys):
    train, valid = data
    BPR(factors=8, epochs=12, eval_every=2, patience=12, verbose=True).fit(train, valid=valid)
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "BPR: 12 epochs" in lines[0] and "ms/epoch" in lines[0] and "best Recall@20" in lines[0]
    BPR(factors=8, epochs=3, verbose=False).fit(train)
    assert capsys.readouterr() == ("", "")


def test_validation_computes_the_metric_and_the_learning_curves_only(data):
    train, valid = data
    model = BPR(factors=8, epochs=2, eval_every=1, metric="MAP@10", verbose=False).fit(train, valid=valid)
    validated = {k for r in model.history_.records for k in r if "@" in k}
    assert validated == {"MAP@10", "Recall@10", "nDCG@10"}
    with pytest.raises(ValueError, match="not computed"):
        BPR(factors=8, epochs=1, metric="Foo@10", verbose=False).fit(train, valid=valid)
