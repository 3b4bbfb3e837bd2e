"""DAE / Mult-VAE with their defaults: they learn taste groups and score every item."""
import numpy as np

from handson.datasets import Interactions
from handson.models import DAE, MultVAE


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
