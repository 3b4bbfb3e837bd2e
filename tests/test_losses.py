"""The losses of handson.models.losses: ranking (BPR, BCE) and self-supervised (InfoNCE, bootstrap)."""
import importlib
import math
import sys

import numpy as np
import pytest
import torch

from handson.models.losses import (bce_loss, bootstrap_loss, bpr_loss, in_batch_softmax_loss, info_nce,
                                   multinomial_nll)


# -- ranking losses ------------------------------------------------------------------------
def test_bpr_loss_values():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    expected = -np.mean(np.log(1 / (1 + np.exp(-np.array([2.0, 0.0])))))
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    # several negatives per positive broadcast against their positive
    many = bpr_loss(pos, torch.zeros(2, 3))
    assert many.item() == pytest.approx(expected, rel=1e-6)


def test_bce_loss_values():
    pos, neg = torch.tensor([3.0]), torch.tensor([[-1.0, 2.0]])
    sp_ = lambda x: np.log1p(np.exp(x))  # noqa: E731
    expected = sp_(-3.0) + sp_(-1.0) + sp_(2.0)
    assert bce_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_in_batch_softmax_loss_and_multinomial_nll_values():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    log_p = torch.log_softmax(logits, dim=1)
    assert in_batch_softmax_loss(logits).item() == pytest.approx(-(log_p[0, 0] + log_p[1, 1]).item() / 2)
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    expected = torch.stack([-log_p[0, 0], -(log_p[1, 0] + log_p[1, 1])])
    torch.testing.assert_close(multinomial_nll(logits, rows), expected)


# -- self-supervised losses ---------------------------------------------------------------
def test_info_nce_is_low_for_aligned_views_and_log_b_for_random():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 32, generator=g)
    assert info_nce(a, a, temperature=0.05).item() < 0.05
    b = torch.randn(256, 32, generator=g)
    assert abs(info_nce(a, b, temperature=1.0).item() - math.log(256)) < 0.3
    assert info_nce(a, a + 0.1 * b).item() < info_nce(a, b).item()


def test_info_nce_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    an, bn = a, b / b.norm(dim=1, keepdim=True)
    logits = an @ bn.T / 0.5
    expected = -torch.log_softmax(logits, dim=1).diag().mean()
    assert info_nce(a, b, temperature=0.5, symmetric=False).item() == pytest.approx(expected.item(), rel=1e-5)
    both = 0.5 * (expected - torch.log_softmax(logits.T, dim=1).diag().mean())
    assert info_nce(a, b, temperature=0.5).item() == pytest.approx(both.item(), rel=1e-5)


def test_info_nce_gradient_pulls_views_together():
    torch.manual_seed(0)
    a = torch.randn(16, 8, requires_grad=True)
    b = torch.randn(16, 8)
    opt = torch.optim.SGD([a], lr=1.0)
    before = info_nce(a, b).item()
    for _ in range(50):
        opt.zero_grad()
        info_nce(a, b).backward()
        opt.step()
    assert info_nce(a, b).item() < 0.5 * before


def test_bootstrap_loss_range_and_stop_gradient():
    p = torch.randn(10, 4, requires_grad=True)
    t = torch.randn(10, 4, requires_grad=True)
    assert bootstrap_loss(p, p.detach()).item() == pytest.approx(0.0, abs=1e-6)
    assert bootstrap_loss(p, -p.detach()).item() == pytest.approx(2.0, abs=1e-6)
    bootstrap_loss(p, t).backward()
    assert p.grad is not None and t.grad is None


def test_contrastive_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.zeros(4, 3), torch.zeros(4, 3), temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        bootstrap_loss(torch.zeros(4), torch.zeros(4))


# -- the old import paths ------------------------------------------------------------------
def test_old_import_paths_still_work_with_a_deprecation_warning():
    from handson import training

    with pytest.warns(DeprecationWarning, match="handson.models.losses"):
        assert training.bpr_loss is bpr_loss
    with pytest.warns(DeprecationWarning, match="handson.models.losses"):
        assert training.bce_loss is bce_loss
    sys.modules.pop("handson.models.contrastive", None)
    with pytest.warns(DeprecationWarning, match="handson.models.losses"):
        old = importlib.import_module("handson.models.contrastive")
    assert old.info_nce is info_nce and old.bootstrap_loss is bootstrap_loss
    assert "bpr_loss" not in training.__all__       # a star import does not warn
