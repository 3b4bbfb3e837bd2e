"""Item-item modality graphs (handson.models.item_graph): kNN graphs, normalisation, fusion."""
import numpy as np
import pytest
import scipy.sparse as sp

from handson.models import item_graph as ig


def clustered(n_per=20, n_clusters=3, d=8, seed=0, noise=0.05):
    """Items in tight clusters around random directions; labels say the cluster."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, d))
    labels = np.repeat(np.arange(n_clusters), n_per)
    x = centers[labels] + noise * rng.normal(size=(len(labels), d))
    return x.astype(np.float32), labels


def test_knn_graph_finds_cluster_mates_and_matches_dense():
    x, labels = clustered()
    g = ig.knn_graph(x, k=5)
    assert g.shape == (60, 60) and g.nnz == 60 * 5
    assert np.all(np.diff(g.indptr) == 5)
    assert g.diagonal().sum() == 0                      # no self loops by default
    r, c = g.nonzero()
    assert np.all(labels[r] == labels[c])               # neighbours share the cluster
    dense = ig.cosine_similarity(x)
    np.fill_diagonal(dense, -np.inf)
    brute = np.argsort(-dense, axis=1)[:, :5]
    for i in range(60):
        assert set(g[i].indices) == set(brute[i])


def test_knn_graph_blocks_do_not_change_the_result():
    x, _ = clustered(seed=3, noise=0.5)
    a = ig.knn_graph(x, k=4, weighted=True, block_size=7)
    b = ig.knn_graph(x, k=4, weighted=True, block_size=1000)
    # same neighbours; weights equal up to float32 rounding (BLAS may sum blocks differently)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)
    assert a.data.max() <= 1.0 + 1e-5 and a.data.min() > -1.0 - 1e-5


def test_zero_rows_have_no_neighbours_and_are_nobodys_neighbour():
    x, _ = clustered()
    x[[3, 40]] = 0.0
    g = ig.knn_graph(x, k=5)
    assert g[3].nnz == 0 and g[40].nnz == 0
    assert g[:, 3].nnz == 0 and g[:, 40].nnz == 0
    assert g.nnz == 58 * 5
    sym = ig.normalize_graph(g)
    assert np.isfinite(sym.data).all()


def test_k_larger_than_catalog_is_clamped():
    x, _ = clustered(n_per=2, n_clusters=2)
    g = ig.knn_graph(x, k=50)
    assert np.all(np.diff(g.indptr) == 3)


def test_normalize_graph_sym_and_row():
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=np.float32))
    s = ig.normalize_graph(a, "sym").toarray()
    deg = np.array([2.0, 1.0, 0.0])
    assert s[0, 1] == pytest.approx(1 / np.sqrt(2 * 1))
    assert s[2].sum() == 0                               # degree-0 row stays zero, no NaN
    r = ig.normalize_graph(a, "row").toarray()
    np.testing.assert_allclose(r.sum(axis=1), (deg > 0).astype(float))


def test_modality_graph_fuses_weighted():
    x, labels = clustered(seed=1)
    y = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    only_x = ig.modality_graph({"image": x, "text": y}, k=5, weights={"image": 1.0, "text": 0.0})
    np.testing.assert_allclose(only_x.toarray(), ig.normalize_graph(ig.knn_graph(x, 5)).toarray(), atol=1e-6)
    both = ig.modality_graph({"image": x, "text": y}, k=5)
    assert both.nnz > only_x.nnz
    assert 0.0 <= ig.edge_overlap(ig.knn_graph(x, 5), ig.knn_graph(y, 5)) < 0.5
    assert ig.edge_overlap(only_x, only_x) == 1.0


def test_neighbours_sorted_by_weight():
    x, labels = clustered(noise=0.3)
    g = ig.knn_graph(x, k=6, weighted=True)
    nb = ig.neighbours(g, 0)
    w = np.asarray(g[0, nb].todense()).ravel()
    assert len(nb) == 6 and np.all(np.diff(w) <= 0)
    assert len(ig.neighbours(g, 0, n=3)) == 3


@pytest.mark.parametrize("bad, match", [
    (np.full((5, 3), np.nan, np.float32), "NaN"),
    (np.zeros(5, np.float32), "n_items, d"),
])
def test_bad_features_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        ig.knn_graph(bad, k=2)


def test_bad_arguments_raise():
    x, _ = clustered()
    with pytest.raises(ValueError, match="positive integer"):
        ig.knn_graph(x, k=0)
    with pytest.raises(ValueError, match="dense .* knn_graph"):
        ig.cosine_similarity(x, max_items=10)
    with pytest.raises(ValueError, match="square"):
        ig.normalize_graph(sp.csr_matrix((2, 3)))
    with pytest.raises(ValueError, match="differ in shape"):
        ig.fuse_graphs([sp.csr_matrix((2, 2)), sp.csr_matrix((3, 3))])
    with pytest.raises(ValueError, match="non-negative"):
        ig.fuse_graphs([sp.csr_matrix((2, 2))] * 2, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="disagree on n_items"):
        ig.modality_graph({"image": x, "text": x[:10]})
    with pytest.raises(ValueError, match="not in item_features"):
        ig.modality_graph({"image": x}, weights={"audio": 1.0})
    with pytest.raises(ValueError, match="outside"):
        ig.neighbours(ig.knn_graph(x, 2), 999)
