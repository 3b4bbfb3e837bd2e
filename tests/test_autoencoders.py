"""DAE / Mult-VAE: the sparse input path computes what the dense one does."""
import numpy as np
import pytest
import torch

from handson.datasets import Interactions
from handson.models import DAE, MultVAE
from handson.models.autoencoders import AEModule


@pytest.mark.parametrize("variational", [False, True])
def test_sparse_rows_give_the_dense_logits(variational):
    torch.manual_seed(0)
    module = AEModule(n_items=40, hidden=16, factors=4, dropout=0.5, variational=variational).eval()
    dense = (torch.rand(6, 40) < 0.2).float()
    dense[0, :3] = 1.0
    with torch.no_grad():
        a, ka = module(dense)
        b, kb = module(dense.to_sparse())
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ka, kb)


def test_dropout_touches_only_the_non_zeros_and_keeps_the_scale():
    torch.manual_seed(0)
    module = AEModule(n_items=2000, hidden=8, factors=2, dropout=0.5, variational=False).train()
    rows = torch.zeros(1, 2000)
    rows[0, :1000] = 1.0
    captured = {}
    orig = torch.sparse.mm

    def spy(x, w):
        captured["x"] = x.coalesce()
        return orig(x, w)
    torch.sparse.mm = spy
    try:
        module(rows.to_sparse())
    finally:
        torch.sparse.mm = orig
    x = captured["x"]
    assert x.indices()[1].max() < 1000                       # never an item the user did not have
    kept = x.values() != 0
    assert 0.4 < kept.float().mean() < 0.6
    np.testing.assert_allclose(x.values()[kept].numpy(), 2.0 / np.sqrt(1000), rtol=1e-5)


def test_fitted_models_score_every_item_and_learn():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(60), 8)
    items = (users % 3) * 10 + rng.integers(0, 10, len(users))         # three taste groups
    train = Interactions(users, items, 60, 30)
    for cls in (DAE, MultVAE):
        model = cls(hidden=32, factors=8, epochs=60, lr=1e-2, verbose=False).fit(train)
        scores = model.score(np.arange(60))
        assert scores.shape == (60, 30) and np.isfinite(scores).all()
        group = (np.arange(60) % 3)[:, None] == (np.arange(30) // 10)[None, :]
        assert scores[group].mean() > scores[~group].mean() + 1.0, cls.__name__
