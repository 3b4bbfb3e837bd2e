"""handson.split: invariants on seeded random data, hand-made cases, bad input."""
import numpy as np
import pandas as pd
import pytest

from handson.datasets import Interactions, from_frames
from handson.split import (Split, cold_item_split, last_n_split, leave_one_out, random_split,
                           temporal_split)

SEEDS = [0, 1, 2]


def make_data(seed: int, n_users: int = 150, n_items: int = 90, timestamps: bool = True) -> Interactions:
    """Unique (user, item) pairs, long-tail user activity (1..40), timestamps with ties."""
    rng = np.random.default_rng(seed)
    per_user = np.minimum(rng.geometric(0.08, n_users), 40)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, c, replace=False) for c in per_user])
    ts = rng.integers(0, 300, len(users)) if timestamps else None
    perm = rng.permutation(len(users))                       # rows in no particular order
    return Interactions(users[perm], items[perm], n_users + 5, n_items + 7,   # idle users/items
                        ratings=rng.integers(1, 6, len(users)).astype(float),
                        timestamps=None if ts is None else ts[perm])


def rows(inter: Interactions) -> np.ndarray:
    """Sorted (user, item, timestamp) rows: a multiset we can compare."""
    ts = inter.timestamps if inter.timestamps is not None else np.zeros(len(inter), np.int64)
    a = np.stack([inter.users, inter.items, ts], axis=1)
    return a[np.lexsort(a.T[::-1])]


def check_partition(data: Interactions, split: Split) -> None:
    parts = [p for p in split if p is not None]
    for p in parts:                                           # same catalog everywhere
        assert (p.n_users, p.n_items) == (data.n_users, data.n_items)
        assert (p.timestamps is None) == (data.timestamps is None)
        assert (p.ratings is None) == (data.ratings is None)
    np.testing.assert_array_equal(rows(Interactions.concat(parts)), rows(data))   # complete
    keys = [set(zip(p.users.tolist(), p.items.tolist())) for p in parts]          # disjoint
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == len(data)


def same(a: Split, b: Split) -> bool:
    return all((x is None and y is None) or np.array_equal(rows(x), rows(y)) for x, y in zip(a, b))


SPLITTERS = {
    "random_user": lambda d, s: random_split(d, test=0.2, valid=0.1, seed=s),
    "random_global": lambda d, s: random_split(d, test=0.25, valid=0.1, per_user=False, seed=s),
    "loo": lambda d, s: leave_one_out(d, valid=True, seed=s),
    "cold": lambda d, s: cold_item_split(d, items=0.2, valid=0.1, seed=s),
}


@pytest.mark.parametrize("name", SPLITTERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_complete_disjoint_deterministic(name, seed):
    data = make_data(seed)
    split = SPLITTERS[name](data, seed)
    check_partition(data, split)
    assert same(split, SPLITTERS[name](data, seed))                 # same seed, same split
    if name != "loo":                                               # loo with time: seed only breaks ties
        assert not same(split, SPLITTERS[name](data, seed + 100))   # another seed, another split


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("test,valid", [(0.2, 0.0), (0.3, 0.1), (0.5, 0.25)])
def test_random_per_user_ratios_within_rounding(seed, test, valid):
    data = make_data(seed)
    split = random_split(data, test=test, valid=valid, seed=seed)
    check_partition(data, split)
    n_u = data.user_counts()
    n_test, n_train = split.test.user_counts(), split.train.user_counts()
    want = np.floor(test * n_u + 0.5)
    free = n_u >= 2 + want + np.floor(valid * n_u + 0.5)              # not capped by "keep one"
    np.testing.assert_array_equal(n_test[free], want[free])
    assert (np.abs(n_test - test * n_u)[free] <= 0.5 + 1e-9).all()
    assert (n_train[n_u >= 1] >= 1).all()                             # everyone keeps a train item
    if valid:
        n_valid = split.valid.user_counts()
        assert (np.abs(n_valid - valid * n_u)[free] <= 0.5 + 1e-9).all()
    else:
        assert split.valid is None


def test_random_global_sizes():
    data = make_data(0)
    split = random_split(data, test=0.2, valid=0.1, per_user=False, seed=3)
    n = len(data)
    assert len(split.test) == int(np.floor(0.2 * n + 0.5))
    assert len(split.valid) == int(np.floor(0.1 * n + 0.5))


@pytest.mark.parametrize("seed", SEEDS)
def test_temporal_split_is_a_time_cut(seed):
    data = make_data(seed)
    train, valid, test = temporal_split(data, test=0.2, valid=0.1)
    check_partition(data, Split(train, valid, test))
    assert train.timestamps.max() < valid.timestamps.min() <= valid.timestamps.max() < test.timestamps.min()
    assert abs(len(test) / len(data) - 0.2) < 0.05                     # near the ratio despite ties
    assert temporal_split(data, test=0.2).valid is None


def test_temporal_split_by_hand():
    data = Interactions([0, 0, 1, 1, 2], [0, 1, 0, 2, 3], 3, 4, timestamps=[5, 1, 3, 9, 7])
    train, valid, test = temporal_split(data, test=0.4, valid=0.2)
    # sorted times 1 3 5 7 9: test = the latest 2 (t >= 7), valid = the next 1 (t = 5)
    assert sorted(test.timestamps) == [7, 9] and list(valid.timestamps) == [5]
    assert sorted(train.timestamps) == [1, 3]


@pytest.mark.parametrize("seed", SEEDS)
def test_last_n_takes_each_users_latest(seed):
    data = make_data(seed)
    train, valid, test = last_n_split(data, n_test=2, n_valid=1)
    check_partition(data, Split(train, valid, test))
    n_u = data.user_counts()
    np.testing.assert_array_equal(test.user_counts(), np.clip(n_u - 1, 0, 2))
    np.testing.assert_array_equal(valid.user_counts(), np.clip(n_u - 3, 0, 1))
    for part_a, part_b in ((train, valid), (valid, test), (train, test)):   # never older than train
        last_a = pd.Series(part_a.timestamps).groupby(part_a.users).max()
        first_b = pd.Series(part_b.timestamps).groupby(part_b.users).min()
        both = last_a.index.intersection(first_b.index)
        assert (last_a[both] <= first_b[both]).all()


def test_last_n_ties_by_input_order():
    # user 0 has three interactions at the same time: the last row is the latest
    data = Interactions([0, 0, 0], [4, 2, 7], 1, 8, timestamps=[10, 10, 10])
    train, _, test = last_n_split(data)
    assert test.items.tolist() == [7] and sorted(train.items.tolist()) == [2, 4]


@pytest.mark.parametrize("seed", SEEDS)
def test_leave_one_out(seed):
    data = make_data(seed)
    train, valid, test = leave_one_out(data, valid=True, seed=seed)
    n_u = data.user_counts()
    np.testing.assert_array_equal(test.user_counts(), (n_u >= 2).astype(int))
    np.testing.assert_array_equal(valid.user_counts(), (n_u >= 3).astype(int))
    last_train = pd.Series(train.timestamps).groupby(train.users).max()
    t_test = pd.Series(test.timestamps, index=test.users)
    assert (last_train[t_test.index] <= t_test).all()                 # test is the latest
    no_time = make_data(seed, timestamps=False)
    split = leave_one_out(no_time, seed=seed)
    check_partition(no_time, split)
    assert split.valid is None and len(split.test) == int((no_time.user_counts() >= 2).sum())
    assert not same(split, leave_one_out(no_time, seed=seed + 1))     # random without time


@pytest.mark.parametrize("seed", SEEDS)
def test_cold_items_absent_from_train_and_valid(seed):
    data = make_data(seed)
    train, valid, test = cold_item_split(data, items=0.2, valid=0.1, seed=seed)
    cold = np.unique(test.items)
    active = np.flatnonzero(data.item_counts() > 0)
    assert len(cold) == int(np.floor(0.2 * len(active) + 0.5))
    assert not np.isin(train.items, cold).any() and not np.isin(valid.items, cold).any()
    np.testing.assert_array_equal(np.sort(test.items), np.sort(data.items[np.isin(data.items, cold)]))
    assert np.isin(cold, active).all()                                  # idle items never chosen
    assert cold_item_split(data, items=0.2, seed=seed).valid is None


def test_accepts_a_dataset_and_keeps_its_index():
    frame = pd.DataFrame({"user": list("aabbbcc"), "item": ["x", "y", "x", "y", "z", "z", "w"],
                          "ts": [1, 2, 3, 4, 5, 6, 7]})
    items = pd.DataFrame({"item": ["w", "x", "y", "z", "never"]})
    ds = from_frames(frame, items, timestamp_col="ts")
    for split in (random_split(ds, test=0.5), temporal_split(ds, test=0.3), last_n_split(ds),
                  leave_one_out(ds), cold_item_split(ds, items=0.5)):
        assert all(p.shape == (3, 5) for p in split if p is not None)
        check_partition(ds.interactions, split)


def test_summary_table():
    split = random_split(make_data(0), test=0.2, valid=0.1)
    table = split.summary()
    assert list(table.index) == ["train", "valid", "test"]
    assert table["interactions"].sum() == len(make_data(0)) and table["share"].sum() == pytest.approx(1)


@pytest.mark.parametrize("kwargs,match", [
    ({"test": 0.0}, "between 0 and 1"), ({"test": 1.0}, "between 0 and 1"),
    ({"test": -0.1}, "between 0 and 1"), ({"valid": -0.1}, r"valid=-0.1"),
    ({"test": 0.6, "valid": 0.4}, "nothing for training"),
])
def test_bad_ratios(kwargs, match):
    data = make_data(0)
    with pytest.raises(ValueError, match=match):
        random_split(data, **kwargs)
    with pytest.raises(ValueError, match=match):
        temporal_split(data, **kwargs)


def test_bad_input():
    no_time = make_data(0, timestamps=False)
    with pytest.raises(ValueError, match="timestamp_col="):
        temporal_split(no_time)
    with pytest.raises(ValueError, match="needs timestamps"):
        last_n_split(no_time)
    with pytest.raises(ValueError, match="n_test"):
        last_n_split(make_data(0), n_test=0)
    with pytest.raises(ValueError, match="n_valid"):
        last_n_split(make_data(0), n_valid=1.5)
    with pytest.raises(ValueError, match="items=0"):
        cold_item_split(make_data(0), items=0.0)
    with pytest.raises(ValueError, match="at least one item on each side"):
        cold_item_split(make_data(0), items=0.001)
    with pytest.raises(ValueError, match="Dataset or Interactions"):
        random_split(pd.DataFrame({"user": [0], "item": [0]}))
    with pytest.raises(ValueError, match="empty"):
        random_split(Interactions([], [], 2, 2))
    singletons = Interactions([0, 1, 2], [0, 1, 2], 3, 3, timestamps=[1, 2, 3])
    with pytest.raises(ValueError, match="no interaction into test"):
        random_split(singletons, test=0.2)                        # one interaction per user
    same_time = Interactions([0, 1, 2], [0, 1, 2], 3, 3, timestamps=[4, 4, 4])
    with pytest.raises(ValueError, match="too coarse"):
        temporal_split(same_time, test=0.3)


def test_leave_one_out_breaks_time_ties_at_random():
    # one user, ten interactions at the same time: the held-out item depends on the seed
    data = Interactions(np.zeros(10, int), np.arange(10), 1, 10, timestamps=np.full(10, 7))
    held_out = {int(leave_one_out(data, seed=s).test.items[0]) for s in range(20)}
    assert len(held_out) > 3
