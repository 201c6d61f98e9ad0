"""Training-free maps from an encoder's L-side sentence vectors to its English-side ones, fit on bitext pairs.

Baselines for distillation: how much of what a student learns is an affine correction of its queries. Every map is
``x ↦ x A + b`` on row vectors; fit on ``source`` (L sentences) and ``target`` (their English translations), both
``(n, d)``, then applied to query vectors in L. Retrieval by inner product is unchanged by a positive scale of the
query, so mapped queries need no normalisation.

* ``mean-shift``: the translation part of OT between the two clouds, ``x - μ_L + μ_en``;
* ``gaussian-ot``: the Monge map between Gaussians fitted to both clouds (Bures–Wasserstein), the closed form of
  OT for Gaussians, ``A = Σs^-½ (Σs^½ Σt Σs^½)^½ Σs^-½``, ``b = μt - μs A`` (it uses no pairing);
* ``procrustes`` / ``procrustes-centred``: the rotation that best maps each L vector onto its translation's
  (orthogonal Procrustes), on raw or centred vectors;
* ``lstsq`` / ``lstsq-centred``: ridge least squares on the pairs, without or with an intercept.

A ridge is absolute in :func:`fit_map`; :func:`ridge_scale` turns a ridge relative to the scale of what it
regularises into that absolute one, so one relative grid serves encoders whose vectors differ in scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import orthogonal_procrustes

MAPS = ("identity", "mean-shift", "gaussian-ot", "procrustes", "procrustes-centred", "lstsq", "lstsq-centred")


@dataclass(frozen=True)
class LinearMap:
    """``x ↦ x @ A + b``: ``A`` of shape ``(d, d)``, ``b`` of shape ``(d,)``."""

    A: np.ndarray
    b: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(n, d)`` → ``(n, d)``."""
        if x.ndim != 2 or x.shape[1] != self.A.shape[0]:
            raise ValueError(f"map of dimension {self.A.shape[0]} applied to vectors of shape {x.shape}")
        return x @ self.A + self.b


def _sqrtm_psd(c: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Square root (or its inverse) of a symmetric positive semi-definite matrix, by eigendecomposition."""
    values, vectors = np.linalg.eigh((c + c.T) / 2)
    values = np.clip(values, 0.0, None)
    if inverse:
        if values.min() <= 0:
            raise ValueError("covariance is singular: regularise it (reg > 0)")
        values = 1.0 / values
    return (vectors * np.sqrt(values)) @ vectors.T


def gaussian_ot_map(mu_s: np.ndarray, cov_s: np.ndarray, mu_t: np.ndarray, cov_t: np.ndarray) -> LinearMap:
    """The Monge map between ``N(mu_s, cov_s)`` and ``N(mu_t, cov_t)`` (shapes ``(d,)`` and ``(d, d)``)."""
    root = _sqrtm_psd(cov_s)
    inv_root = _sqrtm_psd(cov_s, inverse=True)
    a = inv_root @ _sqrtm_psd(root @ cov_t @ root) @ inv_root
    a = (a + a.T) / 2
    return LinearMap(a, mu_t - mu_s @ a)


RIDGED = ("gaussian-ot", "lstsq", "lstsq-centred")
"""The maps with a ridge: the others ignore ``reg``."""


def ridge_scale(kind: str, source: np.ndarray) -> float:
    """The mean eigenvalue of the matrix map ``kind``'s ridge is added to: the covariance of ``source`` ``(n, d)``
    (``gaussian-ot``, ``lstsq-centred``) or its raw second moment ``XᵀX / n`` (``lstsq``); a relative ridge ``r``
    is the absolute ridge ``r · ridge_scale``."""
    if kind not in RIDGED:
        raise ValueError(f"map {kind!r} has no ridge; maps with one: {RIDGED}")
    x = source if kind == "lstsq" else source - source.mean(0)
    return float(np.einsum("ij,ij->", x, x) / (len(x) * x.shape[1]))


def well_posed_without_ridge(kind: str, n: int, d: int) -> bool:
    """Whether map ``kind`` fit on ``n`` pairs of dimension ``d`` is defined without a ridge: its matrix
    (``XᵀX``, or a covariance of rank at most ``n - 1``) can be full rank only with more pairs than dimensions."""
    return kind not in RIDGED or (n > d if kind == "lstsq" else n > d + 1)


def fit_map(kind: str, source: np.ndarray, target: np.ndarray, reg: float = 1e-4) -> LinearMap:
    """Fit map ``kind`` (one of :data:`MAPS`) on paired rows of ``source`` and ``target`` (``(n, d)`` each).

    ``reg`` is added to the diagonal of both covariances (``gaussian-ot``) and is the ridge penalty (``lstsq*``):
    with fewer pairs than dimensions the problems are otherwise singular."""
    if kind not in MAPS:
        raise ValueError(f"unknown map {kind!r}; choose one of {MAPS}")
    if source.ndim != 2 or source.shape != target.shape:
        raise ValueError(f"source {source.shape} and target {target.shape} must be paired (n, d) arrays")
    if len(source) < 2:
        raise ValueError(f"a map needs at least 2 pairs, got {len(source)}")
    d = source.shape[1]
    mu_s, mu_t = source.mean(0), target.mean(0)
    if kind == "identity":
        return LinearMap(np.eye(d), np.zeros(d))
    if kind == "mean-shift":
        return LinearMap(np.eye(d), mu_t - mu_s)
    if kind == "gaussian-ot":
        eye = reg * np.eye(d)
        return gaussian_ot_map(mu_s, np.cov(source, rowvar=False) + eye, mu_t, np.cov(target, rowvar=False) + eye)
    centred = kind.endswith("-centred")
    x, y = (source - mu_s, target - mu_t) if centred else (source, target)
    if kind.startswith("procrustes"):
        a = orthogonal_procrustes(x, y)[0]
    else:
        a = np.linalg.solve(x.T @ x + reg * len(x) * np.eye(d), x.T @ y)
    return LinearMap(a, mu_t - mu_s @ a if centred else np.zeros(d))
