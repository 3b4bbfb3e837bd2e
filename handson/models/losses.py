"""Every loss of the course's models, in one place.

Ranking losses (a positive item against sampled negatives):

* :func:`bpr_loss`: Bayesian personalized ranking (Rendle et al., "BPR: Bayesian
  Personalized Ranking from Implicit Feedback", UAI 2009): the positive should score above
  each negative, ``mean(-log sigmoid(pos - neg))``.
* :func:`bce_loss`: binary cross-entropy on logits (positives labelled 1, negatives 0), the
  pointwise loss of Neural Collaborative Filtering (He et al., WWW 2017).
* :func:`in_batch_softmax_loss`: a softmax over the batch's positives, each row's own
  positive against every other one (two-tower retrieval, Yi et al., RecSys 2019).
* :func:`multinomial_nll`: the multinomial log-likelihood of a user's whole row under a
  softmax over the catalog (Mult-DAE / Mult-VAE, Liang et al., WWW 2018).

Self-supervised losses (two views of the same objects):

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

__all__ = ["bpr_loss", "bce_loss", "in_batch_softmax_loss", "multinomial_nll", "info_nce", "bootstrap_loss"]


# -- ranking losses ------------------------------------------------------------------------
def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalized ranking loss, ``mean(-log sigmoid(pos - neg))``.

    ``pos`` has shape (B,); ``neg`` (B,) or (B, n_neg) (every negative paired with its positive).
    """
    if neg.dim() > pos.dim():
        pos = pos.unsqueeze(-1)
    return -F.logsigmoid(pos - neg).mean()


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits: positives labelled 1, negatives 0.

    ``pos`` (B,), ``neg`` (B,) or (B, n_neg); the loss of one positive plus its negatives,
    averaged over the batch.
    """
    neg = neg.reshape(pos.shape[0], -1)
    return (F.softplus(-pos) + F.softplus(neg).sum(dim=1)).mean()


def in_batch_softmax_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a ``(B, B)`` logit matrix whose row ``r`` has its positive in column ``r``
    (the other columns are the in-batch negatives); computed in float32, a scalar."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits.float(), target)


def multinomial_nll(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Negative multinomial log-likelihood per row: ``-sum_i x_ui log softmax(logits_u)_i``.

    ``logits`` and ``rows`` (the interaction counts) are ``(B, n_items)``; returns ``(B,)``.
    """
    return -(F.log_softmax(logits.float(), dim=1) * rows).sum(dim=1)


# -- self-supervised losses ----------------------------------------------------------------
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
