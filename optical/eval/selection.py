"""Which evaluation of a run's dev history checkpoint selection keeps (no torch: the report reads it)."""

from __future__ import annotations


def best_evaluation(history: list[dict]) -> dict:
    """The evaluation of a dev ``history`` that checkpoint selection keeps: the best selection score
    (``"macro"``), the first on ties (the trainer replaces its best only on a strictly higher score)."""
    if not history:
        raise ValueError("the dev history is empty: the run was not evaluated on dev")
    return max(history, key=lambda h: h["macro"])
