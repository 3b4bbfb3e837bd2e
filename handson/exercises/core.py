"""What every exercise check shares: the messages, independent references, a restricted scorer."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp

from .. import metrics as M
from ..datasets import Interactions
from ..evaluation import evaluate

__all__ = ["attempted", "report", "values", "unit_rows", "seen_matrix", "ranked", "Restricted", "recall",
           "fitted", "models_match"]


def attempted(name: str, *answers: Any) -> bool:
    """False (and a message) while any answer is still the placeholder None."""
    if any(a is None for a in answers):
        print(f"Exercise '{name}': not attempted yet. Replace None with your answer and run this cell again.")
        return False
    return True


def report(name: str, ok: bool, detail: str) -> bool:
    """Print a pass or fail line for exercise ``name``; returns ``ok``."""
    print(f"{'✅' if ok else '❌'} Exercise '{name}': {'correct' if ok else 'not yet'}. {detail}")
    return bool(ok)


def values(x: Any) -> np.ndarray:
    """A Features object's ``.values``, or the array itself, as float64."""
    return np.asarray(getattr(x, "values", x), dtype=np.float64)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)


def seen_matrix(seen: Interactions | Iterable[Interactions]) -> sp.csr_matrix:
    parts = [seen] if isinstance(seen, Interactions) else [s for s in seen if s is not None]
    return Interactions.concat(parts).to_csr()


def ranked(scores: np.ndarray, users: np.ndarray, seen: Interactions | Iterable[Interactions], k: int) -> np.ndarray:
    """Top-``k`` items ``(len(users), k)`` of ``scores`` with the seen pairs masked."""
    scores = np.array(scores, dtype=np.float64)
    M.mask_rows(scores, seen_matrix(seen), np.asarray(users))
    return M.top_k(scores, k)


class Restricted:
    """``model`` ranking only ``items`` (every other score ``-inf``): for cold-item checks."""

    def __init__(self, model: Any, items: np.ndarray, n_items: int) -> None:
        self.model, self.items, self.n_items_ = model, np.asarray(items), n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        s = np.asarray(self.model.score(users), dtype=np.float32)
        out = np.full_like(s, -np.inf)
        out[:, self.items] = s[:, self.items]
        return out


def recall(model: Any, test: Interactions, seen: Any, k: int) -> float:
    """Full-ranking Recall@k of ``model`` (anything with ``score``) on ``test``."""
    return float(evaluate(model, test, seen=seen, k=k, metrics=["Recall"])[f"Recall@{k}"])


def fitted(model: Any) -> bool:
    """Whether ``model`` looks fitted: it scores and knows its catalog (``n_items_``)."""
    return callable(getattr(model, "score", None)) and getattr(model, "n_items_", None) is not None


def models_match(name: str, models: Any, expected: dict[Any, dict[str, Any]]) -> tuple[bool, str]:
    """Whether ``models`` is a dict with exactly the keys of ``expected``, each a fitted model
    whose attributes equal the expected ones; ``(ok, what is wrong)``."""
    if not isinstance(models, dict) or set(models) != set(expected):
        keys = sorted(models) if isinstance(models, dict) else type(models).__name__
        return False, f"expected a dict with keys {sorted(expected, key=str)}, got {keys}."
    for key, attrs in expected.items():
        model = models[key]
        if not fitted(model):
            return False, f"models[{key!r}] is not a fitted model (call .fit first)."
        for attr, want in attrs.items():
            got = getattr(model, attr, None)
            got = tuple(got) if isinstance(got, list) else got
            if got != want:
                return False, f"models[{key!r}].{attr} is {got!r}, expected {want!r}."
    return True, ""
