"""Evaluation: metrics (ir-measures), significance tests, gap closure."""
