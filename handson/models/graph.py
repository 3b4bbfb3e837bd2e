"""The user-item graph as a sparse torch tensor, and message passing over it.

The bipartite graph of ``n_users + n_items`` nodes has an edge between a user and every
item the user interacted with. Its adjacency matrix ``A = [[0, R], [R^T, 0]]`` with the
symmetric normalization ``D^-1/2 A D^-1/2`` is the propagation matrix of NGCF and LightGCN
(He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020, eq. 7). Everything stays sparse: no dense
``(n_users + n_items)^2`` matrix is ever built.

    adj = normalized_adjacency(train.to_csr())          # torch sparse CSR (N, N), N = n_users + n_items
    layers = propagate(adj, embeddings, n_layers=3)     # list of n_layers + 1 tensors (N, d)

Also :func:`reduce_features`, the truncated SVD that the multimodal models (VBPR, FREEDOM,
BM3) apply to item features before their learned projections.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["check_feature_dim", "bipartite_adjacency", "normalized_adjacency", "to_torch_sparse", "sparse_mm",
           "propagate", "layer_mean", "pair_scores", "squared_norms", "prune_edges", "reduce_features"]


def bipartite_adjacency(train_csr: sp.spmatrix) -> sp.csr_matrix:
    """The binary ``(n_users + n_items)`` square adjacency ``[[0, R], [R^T, 0]]`` (scipy CSR)."""
    r = sp.csr_matrix(train_csr, dtype=np.float32)
    if r.ndim != 2 or r.nnz == 0:
        raise ValueError(f"train_csr must be a non-empty (n_users, n_items) matrix, got shape "
                         f"{r.shape} with {r.nnz} interactions.")
    r.data[:] = 1.0
    return sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)


def normalized_adjacency(train_csr: sp.spmatrix, device: str | torch.device = "cpu",
                         self_loops: bool = False) -> torch.Tensor:
    """``D^-1/2 (A [+ I]) D^-1/2`` of the user-item graph as a torch sparse CSR float32 tensor.

    ``train_csr`` is ``(n_users, n_items)``; the result is ``(N, N)`` with
    ``N = n_users + n_items``, users first. Isolated nodes (no interaction) get an empty row.
    """
    a = bipartite_adjacency(train_csr)
    if self_loops:
        a = (a + sp.identity(a.shape[0], dtype=np.float32, format="csr")).tocsr()
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    a = sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)
    return to_torch_sparse(a, device)


def to_torch_sparse(matrix: sp.spmatrix, device: str | torch.device = "cpu") -> torch.Tensor:
    """A scipy sparse matrix as a torch sparse CSR float32 tensor on ``device``."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    m.sort_indices()
    with warnings.catch_warnings():   # "sparse CSR support is in beta": spmm is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                       torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(m.data), size=m.shape, device=device)


class _SparseMM(torch.autograd.Function):
    """``adj @ x`` whose backward is ``adj_t @ grad`` (no transposition inside autograd)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, torch.sparse.mm(ctx.adj_t, grad.to(ctx.adj_t.dtype))


def sparse_mm(adj: torch.Tensor, x: torch.Tensor, adj_t: torch.Tensor | None = None) -> torch.Tensor:
    """``adj (N, M) @ x (M, d) -> (N, d)`` with gradients for ``x``; ``adj`` stays constant.

    ``adj_t`` is the transpose of ``adj``; leave it None when ``adj`` is symmetric (as the
    normalized user-item adjacency is). Runs in float32 whatever the autocast state.
    """
    x = x.to(adj.dtype)
    if not x.requires_grad:
        return torch.sparse.mm(adj, x)
    return _SparseMM.apply(adj, adj if adj_t is None else adj_t, x)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
    """Repeated neighbourhood averaging ``x_{l+1} = adj @ x_l``: returns ``[x_0, ..., x_L]``, each (N, d)."""
    layers = [x]
    for _ in range(n_layers):
        layers.append(sparse_mm(adj, layers[-1]))
    return layers


def layer_mean(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """LightGCN's final embeddings, the mean of ``propagate(adj, x, n_layers)`` ``(N, d)``, summed
    layer by layer (no stacked ``(n_layers + 1, N, d)`` copy, which costs as much as a layer)."""
    total, layer = x.to(adj.dtype), x
    for _ in range(n_layers):
        layer = sparse_mm(adj, layer)
        total = total + layer
    return total / (n_layers + 1)


def pair_scores(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, pos: torch.Tensor,
                neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BPR scores of a batch from whole embedding tables: ``(pos_scores (B,), neg_scores (B,) or
    (B, n_neg), user rows (B, d))`` for ``users``, ``pos`` (B,) and ``neg`` (B,) or (B, n_neg).

    Rows are gathered with ``index_select``, whose backward adds the gradients into the table
    with ``index_add_``; on a CPU that is several times faster than the backward of
    ``table[idx]``, and an epoch of a graph model gathers hundreds of thousands of rows."""
    u = user_emb.index_select(0, users)
    p = item_emb.index_select(0, pos)
    n = item_emb.index_select(0, neg.reshape(-1)).view(*neg.shape, -1)
    return (u * p).sum(-1), ((u.unsqueeze(1) if neg.dim() == 2 else u) * n).sum(-1), u


def squared_norms(weight: torch.Tensor, *indices: torch.Tensor) -> torch.Tensor:
    """``sum over idx in indices of ||weight[idx]||^2``, repeated rows counted every time
    (the L2 penalty of a batch), as ``counts . row_norms`` without gathering a row: the same
    value and gradient as the direct sum, for a fraction of its cost."""
    idx = torch.cat([i.reshape(-1) for i in indices])
    counts = torch.bincount(idx, minlength=weight.shape[0]).to(weight.dtype)
    return (counts * weight.pow(2).sum(1)).sum()


def prune_edges(train_csr: sp.csr_matrix, dropout: float, rng: np.random.Generator) -> sp.csr_matrix:
    """FREEDOM's degree-sensitive pruning: keep ``1 - dropout`` of the edges of ``train_csr``
    ``(n_users, n_items)``, drawn without replacement with weights ``1/sqrt(d_u d_i)``."""
    r = sp.csr_matrix(train_csr)
    if dropout <= 0:
        return r
    users = np.repeat(np.arange(r.shape[0]), np.diff(r.indptr))
    items = r.indices
    d_u, d_i = np.diff(r.indptr), np.bincount(items, minlength=r.shape[1])
    w = 1.0 / np.sqrt(d_u[users] * d_i[items])
    keep = max(1, int(round(r.nnz * (1.0 - dropout))))
    keys = np.log(rng.random(r.nnz)) / w                # Efraimidis-Spirakis weighted sampling
    kept = np.argpartition(-keys, keep - 1)[:keep]
    return sp.csr_matrix((np.ones(keep, np.float32), (users[kept], items[kept])), shape=r.shape)


def check_feature_dim(dim: object, model: str) -> None:
    """A clear error unless ``dim`` (a model's ``feature_dim`` for :func:`reduce_features`) is
    None or a positive integer."""
    if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
        raise ValueError(f"{model}: feature_dim must be None or a positive integer, got {dim!r}.")


def reduce_features(x: np.ndarray, dim: int | None) -> np.ndarray:
    """The top ``dim`` singular directions of ``x`` ``(n_items, d)`` -> ``(n_items, dim)`` float32
    (a truncated SVD, computed once, no centring so zero rows stay zero); ``x`` itself when
    ``dim`` is None or not smaller than ``d``. A projection learned on the result costs
    ``dim / d`` of one learned on ``x`` and sees the directions that carry most of the content."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dim is None or dim >= x.shape[1]:
        return x
    t = torch.from_numpy(x)
    return np.ascontiguousarray((t @ torch.svd_lowrank(t, q=dim, niter=2)[2]).numpy())
