"""Graph helpers (handson.models.graph): normalised adjacency, propagation, sparse products, edge pruning."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from handson.models.graph import normalized_adjacency, propagate, sparse_mm


def test_normalized_adjacency_matches_dense_formula():
    r = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))   # user 2 isolated
    adj = normalized_adjacency(r)
    assert adj.layout == torch.sparse_csr and adj.shape == (6, 6)
    a = np.zeros((6, 6), dtype=np.float32)
    a[:3, 3:], a[3:, :3] = r.toarray(), r.toarray().T
    deg = a.sum(1)
    inv = np.where(deg > 0, deg ** -0.5, 0.0)
    np.testing.assert_allclose(adj.to_dense().numpy(), inv[:, None] * a * inv[None, :], rtol=1e-6)
    assert adj.to_dense()[2].abs().sum() == 0


def test_sparse_mm_gradient_matches_dense():
    rng = np.random.default_rng(0)
    r = sp.random(5, 7, density=0.4, random_state=1, format="csr")
    adj = normalized_adjacency(r)
    x = torch.tensor(rng.normal(size=(12, 3)), dtype=torch.float32, requires_grad=True)
    layers = propagate(adj, x, n_layers=2)
    torch.stack(layers).mean(0).pow(2).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    dense = adj.to_dense()
    torch.stack([x2, dense @ x2, dense @ (dense @ x2)]).mean(0).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)
    assert sparse_mm(adj, x.detach()).shape == (12, 3)


def test_normalized_adjacency_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        normalized_adjacency(sp.csr_matrix((3, 4), dtype=np.float32))
