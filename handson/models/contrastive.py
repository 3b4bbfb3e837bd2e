"""Self-supervised losses shared by the multimodal models: InfoNCE and the bootstrap loss.

* :func:`info_nce` (van den Oord et al., 2018, "Representation Learning with Contrastive
  Predictive Coding"; the symmetric form is CLIP's, Radford et al., ICML 2021): row ``i`` of
  ``a`` must be more similar to row ``i`` of ``b`` than to every other row of ``b``
  (the in-batch negatives), and vice versa.
* :func:`bootstrap_loss` (BYOL, Grill et al., NeurIPS 2020, as used by BM3, Zhou et al.,
  WWW 2023): pull a prediction towards a stop-gradient target, no negatives at all.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["info_nce", "bootstrap_loss"]


def _check_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"{what} needs two (batch, d) tensors of the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}.")


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2,
             symmetric: bool = True) -> torch.Tensor:
    """Contrastive loss between two views ``a``, ``b`` of shape ``(B, d)``; a scalar.

    Rows are L2-normalized; ``logits = a @ b.T / temperature`` (``(B, B)``), the positive of
    row ``i`` is column ``i``. ``symmetric`` averages the a->b and b->a cross-entropies.
    The smallest possible value is 0; for random unrelated views it is about ``log(B)``.
    """
    _check_pair(a, b, "info_nce")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be positive (typical: 0.05 to 0.5).")
    a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss


def bootstrap_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL/BM3 loss ``1 - cos(prediction, stopgrad(target))`` averaged over rows; in [0, 2]."""
    _check_pair(prediction, target, "bootstrap_loss")
    return 1.0 - F.cosine_similarity(prediction.float(), target.detach().float(), dim=1).mean()
