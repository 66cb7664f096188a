"""Analytical gradients of lifetimes' BG/NBD and Gamma-Gamma mean negative log-likelihoods in
log parameters, for the bounded search of models/fitting.py.

The likelihoods themselves stay lifetimes' own; with their gradients the search needs one
evaluation of the likelihood and one of the gradient per step instead of one per parameter
and step (numerical differences), and the Hessian of the standard errors comes from
differences of the gradient (2k evaluations instead of 2k(k+1)). tests/test_rfm_clv.py checks
each gradient against numerical differences of lifetimes' likelihood.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import digamma


def bgnbd_gradient(
    x: np.ndarray, rec: np.ndarray, T: np.ndarray, w: np.ndarray, penalizer: float
) -> Callable[[np.ndarray], np.ndarray]:
    """Gradient of BetaGeoFitter._negative_log_likelihood(log_params, x, rec, T, w, penalizer)
    (Fader, Hardie & Lee 2005a, section 7: A1 + A2 + log(exp(A3) + [x > 0] exp(A4)))."""
    total = w.sum()
    repeat = x > 0

    def gradient(log_params: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params = np.exp(log_params)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(rec + alpha)
        # weight of the A4 term in the log-sum (0 for customers without repeat purchases)
        s4 = np.where(repeat, 1.0 / (1.0 + np.exp(np.clip(a3 - a4, -700, 700))), 0.0)
        s3 = 1.0 - s4
        d_r = digamma(r + x) - digamma(r) + np.log(alpha)
        d_r += -s3 * np.log(alpha + T) - s4 * np.log(rec + alpha)
        d_alpha = r / alpha - s3 * (r + x) / (alpha + T) - s4 * (r + x) / (rec + alpha)
        ab = digamma(a + b) - digamma(a + b + x)
        d_a = ab + s4 / a
        d_b = ab + digamma(b + x) - digamma(b) - s4 / (b + np.maximum(x, 1) - 1)
        sums = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)])
        return -params * sums / total + 2.0 * penalizer * params**2

    return gradient


def gamma_gamma_gradient(
    x: np.ndarray, m: np.ndarray, w: np.ndarray, penalizer: float
) -> Callable[[np.ndarray], np.ndarray]:
    """Gradient of GammaGammaFitter._negative_log_likelihood(log_params, x, m, w, penalizer)
    (Fader, Hardie & Lee 2005c, eq. 1a)."""
    total = w.sum()
    log_m, log_x, xm = np.log(m), np.log(x), x * m

    def gradient(log_params: np.ndarray) -> np.ndarray:
        p, q, v = params = np.exp(log_params)
        px = p * x
        both = digamma(px + q)
        log_xmv = np.log(xm + v)
        d_p = x * (both - digamma(px) + log_m + log_x - log_xmv)
        d_q = both - digamma(q) + np.log(v) - log_xmv
        d_v = q / v - (px + q) / (xm + v)
        sums = np.array([(w * d).sum() for d in (d_p, d_q, d_v)])
        return -params * sums / total + 2.0 * penalizer * params**2

    return gradient
