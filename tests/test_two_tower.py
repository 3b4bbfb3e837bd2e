"""TwoTowerDot: softmax batches are the training pairs themselves; quality against BPR-MF on toyshop."""
import numpy as np
import pytest

from handson import datasets, split
from handson.evaluation import evaluate
from handson.models import BPR, MostPop, TwoTowerDot


def test_softmax_batches_hold_every_training_pair_once_and_no_negative():
    rng = np.random.default_rng(0)
    ds = datasets.load("toyshop")
    train = split.random_split(ds, test=0.2, seed=0).train
    model = TwoTowerDot(epochs=1, verbose=False).fit(train)
    batches = list(model._batches(train, rng))
    assert all(set(b) == {"users", "pos"} for b in batches)
    assert max(len(b["users"]) for b in batches) == model.batch_size
    pairs = np.concatenate([(b["users"] * train.n_items + b["pos"]).numpy() for b in batches])
    X = train.to_csr().tocoo()
    np.testing.assert_array_equal(np.sort(pairs), np.sort(X.row.astype(np.int64) * train.n_items + X.col))
    bpr = TwoTowerDot(loss="bpr", epochs=1, verbose=False).fit(train)
    assert "neg" in next(iter(bpr._batches(train, rng)))


def test_dot_tower_is_close_to_bpr_mf_on_toyshop():
    ds = datasets.load("toyshop")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=42)

    def recall(model):
        return evaluate(model, test, seen=[train, valid], k=20, progress=False)["Recall@20"]
    towers = recall(TwoTowerDot(epochs=30, verbose=False).fit(train, valid=valid))
    mf = recall(BPR(factors=32, lr=0.01, epochs=40, eval_every=5, verbose=False).fit(train, valid=valid))
    pop = recall(MostPop().fit(train))
    assert towers > 1.1 * pop and towers > 0.75 * mf, dict(towers=towers, bpr=mf, pop=pop)


@pytest.mark.parametrize("kwargs, match", [(dict(loss="hinge"), "loss must be"),
                                            (dict(batch_size=0), "batch_size must be a positive")])
def test_bad_parameters(kwargs, match):
    train = split.random_split(datasets.load("toyshop"), test=0.2, seed=0).train
    with pytest.raises(ValueError, match=match):
        TwoTowerDot(epochs=1, verbose=False, **kwargs).fit(train)
