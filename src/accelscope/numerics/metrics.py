"""Tensor-level error metrics. All computed in float64; `reference` is the high-precision tensor."""

from __future__ import annotations

import numpy as np


def _pair(reference: np.ndarray, approx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    if reference.shape != approx.shape:
        raise ValueError(f"approx: shape {approx.shape} must equal the reference's {reference.shape}")
    return reference, approx


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantisation-noise ratio 10·log10(Σx² / Σ(x - x̂)²) in dB; inf when exact."""
    reference, approx = _pair(reference, approx)
    noise = float(np.sum((reference - approx) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(signal / noise)) if signal > 0 else float("-inf")


def relative_error(reference: np.ndarray, approx: np.ndarray) -> float:
    """‖x - x̂‖₂ / ‖x‖₂ (Frobenius norms over the whole tensor)."""
    reference, approx = _pair(reference, approx)
    denominator = float(np.linalg.norm(reference.ravel()))
    difference = float(np.linalg.norm((reference - approx).ravel()))
    return difference / denominator if denominator else (0.0 if difference == 0 else float("inf"))


def max_abs_error(reference: np.ndarray, approx: np.ndarray) -> float:
    reference, approx = _pair(reference, approx)
    return float(np.max(np.abs(reference - approx), initial=0.0))


def _log_softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def kl_softmax(reference_logits: np.ndarray, approx_logits: np.ndarray, axis: int = -1) -> float:
    """Mean over rows of KL(softmax(reference) ‖ softmax(approx)) in nats."""
    reference, approx = _pair(reference_logits, approx_logits)
    log_p = _log_softmax(reference, axis)
    log_q = _log_softmax(approx, axis)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=axis)))


def error_report(reference: np.ndarray, approx: np.ndarray) -> dict[str, float]:
    """The three tensor metrics in one flat record."""
    return {
        "sqnr_db": sqnr_db(reference, approx),
        "relative_error": relative_error(reference, approx),
        "max_abs_error": max_abs_error(reference, approx),
    }
