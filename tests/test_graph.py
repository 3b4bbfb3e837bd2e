"""Graph helpers (handson.models.graph): normalised adjacency, propagation, sparse products, edge pruning."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from handson.models.graph import layer_mean, normalized_adjacency, pair_scores, propagate, sparse_mm, squared_norms


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


def test_layer_mean_is_the_mean_of_propagated_layers_with_its_gradient():
    adj = normalized_adjacency(sp.random(5, 7, density=0.4, random_state=2, format="csr"))
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    layer_mean(adj, x, 2).pow(2).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    torch.stack(propagate(adj, x2, 2)).mean(0).pow(2).sum().backward()
    torch.testing.assert_close(layer_mean(adj, x, 2), torch.stack(propagate(adj, x, 2)).mean(0))
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(layer_mean(adj, x, 0), x)


@pytest.mark.parametrize("n_neg", [None, 3])
def test_pair_scores_and_squared_norms_match_direct_indexing(n_neg):
    g = torch.Generator().manual_seed(1)
    users_t, items_t = torch.randn(4, 5, generator=g), torch.randn(6, 5, generator=g)
    users, pos = torch.tensor([0, 3, 3, 1]), torch.tensor([5, 0, 2, 2])
    neg = torch.randint(0, 6, (4,) if n_neg is None else (4, n_neg), generator=g)
    a = [t.clone().requires_grad_(True) for t in (users_t, items_t)]
    b = [t.clone().requires_grad_(True) for t in (users_t, items_t)]
    pos_s, neg_s, u = pair_scores(a[0], a[1], users, pos, neg)
    (pos_s.sum() - neg_s.pow(2).sum() + squared_norms(a[1], pos, neg) + squared_norms(a[0], users)).backward()
    ub = b[0][users]
    ref_neg = (ub.unsqueeze(1) if n_neg else ub) * b[1][neg]
    assert neg_s.shape == neg.shape and u.shape == (4, 5)
    torch.testing.assert_close(pos_s, (ub * b[1][pos]).sum(-1))
    torch.testing.assert_close(neg_s, ref_neg.sum(-1))
    l2 = b[1][pos].pow(2).sum() + b[1][neg].pow(2).sum() + b[0][users].pow(2).sum()
    torch.testing.assert_close(squared_norms(b[1], pos, neg) + squared_norms(b[0], users), l2)
    ((ub * b[1][pos]).sum(-1).sum() - ref_neg.sum(-1).pow(2).sum() + l2).backward()
    for x, y in zip(a, b):                                  # repeated rows accumulate their gradients
        torch.testing.assert_close(x.grad, y.grad)
