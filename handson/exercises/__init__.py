"""Checks for the exercises at the end of the course notebooks (00-12).

    from handson import exercises
    share_light = None                              # the student's answer
    exercises.check_share_light(share_light, ds)    # prints "not attempted yet", returns None

Every ``check_<name>(answer, ...)`` compares the student's answer with an independent
computation (a reference written here with NumPy, not the student's code path) or tests a
property that a wrong answer fails, prints a friendly message and returns True (correct),
False (wrong) or None (the answer is still the placeholder ``None``). A check never raises on
a wrong answer, so a notebook with placeholders runs top to bottom. The solutions are in the
notebooks, in a collapsed "Solution" cell under each check.

Layer: next to :mod:`handson.evaluation` and :mod:`handson.protocols`; it imports only
``datasets``, ``metrics`` and ``evaluation`` (models, search results and explorers are inspected
through their attributes).
"""
from __future__ import annotations

from .beyond import (check_data_gini, check_export_csv, check_no_blockbusters, check_text_mmr, check_ttest,
                     check_tune_ease)
from .data import (check_cold_capable, check_cold_popularity, check_ease_lambda, check_missing_mean,
                   check_most_popular, check_mrr_function, check_recommend_user, check_share_light,
                   check_share_pattern, check_test_size, check_users_without_test)
from .trained import (check_alignment, check_bce, check_blend, check_edge_dropout, check_freedom_weights,
                      check_gate_modalities, check_hard_negatives, check_knn_no_shrink, check_modality_models,
                      check_negatives, check_over_smoothing, check_overfit, check_overlap_by_k,
                      check_per_modality, check_raw_text, check_ssl_weights, check_temperature, check_towers)

__all__ = [
    "check_cold_capable",
    "check_cold_popularity",
    "check_ease_lambda",
    "check_missing_mean",
    "check_most_popular",
    "check_mrr_function",
    "check_recommend_user",
    "check_share_light",
    "check_share_pattern",
    "check_test_size",
    "check_users_without_test",
    "check_alignment",
    "check_bce",
    "check_blend",
    "check_edge_dropout",
    "check_freedom_weights",
    "check_gate_modalities",
    "check_hard_negatives",
    "check_knn_no_shrink",
    "check_modality_models",
    "check_negatives",
    "check_over_smoothing",
    "check_overfit",
    "check_overlap_by_k",
    "check_per_modality",
    "check_raw_text",
    "check_ssl_weights",
    "check_temperature",
    "check_towers",
    "check_data_gini",
    "check_text_mmr",
    "check_ttest",
    "check_tune_ease",
    "check_export_csv",
    "check_no_blockbusters",
]
