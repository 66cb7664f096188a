"""Closed-form BTYD predictions for every customer, vectorised in numpy.

The formulas are lifetimes' own (BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter), written
over numpy arrays of every customer so that no per-customer Python, no pandas merge and no
lifetimes fitter is needed per evaluation; the interval of models/clv.py evaluates them under
perturbed parameters. What costs (the hypergeometric function of BG/NBD's expectation, over
36 months) depends on (frequency, T) only: it is computed once per distinct (frequency, T)
row and spread to the customers by an index (`Histories.inverse`), found by hash
factorisation. P(alive) and the expected order value are a few array operations per customer.

Parameters are given in literature order in the data's time unit: BG/NBD (r, alpha, a, b),
Pareto/NBD (r, alpha, s, beta), Gamma-Gamma (p, q, gamma).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from lifetimes import ParetoNBDFitter
from scipy.special import expit, hyp2f1


def distinct_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of `columns` and, per input row, the position of its distinct row."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        part, values = pd.factorize(column)
        # re-factorised at each column, so the combined code stays below the row count
        code, _ = pd.factorize(code * len(values) + part)
    first = np.empty(int(code.max()) + 1 if len(code) else 0, dtype=np.int64)
    first[code] = np.arange(len(code))
    return [np.asarray(c)[first] for c in columns], code


@dataclass
class Histories:
    """Customers' purchase histories as arrays, with their distinct (frequency, T) rows."""

    x: np.ndarray
    recency: np.ndarray
    T: np.ndarray

    @classmethod
    def of(cls, rfm: pd.DataFrame) -> Histories:
        return cls(*(rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")))

    @cached_property
    def _by_x_T(self) -> tuple[list[np.ndarray], np.ndarray]:
        return distinct_rows(self.x, self.T)

    @property
    def x_T(self) -> list[np.ndarray]:
        """The distinct (frequency, T) rows."""
        return self._by_x_T[0]

    @property
    def inverse(self) -> np.ndarray:
        """Per customer, the position of its (frequency, T) among the distinct rows."""
        return self._by_x_T[1]

    @cached_property
    def _by_x_rec_T(self) -> tuple[list[np.ndarray], np.ndarray]:
        return distinct_rows(self.x, self.recency, self.T)


def p_alive(model: str, params: np.ndarray, h: Histories) -> np.ndarray:
    """P(alive) per customer (lifetimes' conditional_probability_alive)."""
    with np.errstate(all="ignore"):
        if model == "bgnbd":
            return np.clip(_bgnbd_alive(params, h.x, h.recency, h.T), 0.0, 1.0)
        (x, rec, T), inverse = h._by_x_rec_T
        # lifetimes' Pareto/NBD likelihood is NaN at recency == T for frequent buyers: nudged
        # by 1e-6 time units as in the fit (models/clv.py)
        rec = np.where((rec >= T) & (T > 0), T - 1e-6, rec)
        fitter = ParetoNBDFitter()
        fitter.params_ = pd.Series(params, index=["r", "alpha", "s", "beta"])
        alive = np.asarray(fitter.conditional_probability_alive(x, rec, T), dtype=float)
        return np.clip(alive[inverse], 0.0, 1.0)


def _bgnbd_alive(params, x, recency, T) -> np.ndarray:
    r, alpha, a, b = params
    log_div = (r + x) * np.log((alpha + T) / (alpha + recency)) + np.log(
        a / (b + np.maximum(x, 1) - 1)
    )
    return np.where(x == 0, 1.0, expit(-log_div))


def if_alive(model: str, params: np.ndarray, h: Histories, times) -> np.ndarray:
    """Expected purchases in the next t time units of a customer alive now, per distinct
    (frequency, T) row (rows) and t in `times` (columns); E[purchases] = P(alive) x this.
    Spread to the customers with `h.inverse`."""
    x, T = (c[:, None] for c in h.x_T)
    t = np.asarray(times, dtype=float)[None, :]
    with np.errstate(all="ignore"):
        if model == "bgnbd":
            return _bgnbd_if_alive(params, x, T, t)
        return _pareto_if_alive(params, x, T, t)


def _bgnbd_if_alive(params, x, T, t) -> np.ndarray:
    """lifetimes' conditional_expected_number_of_purchases_up_to_time at recency = T divided
    by P(alive) there: the numerator of Fader, Hardie & Lee (2005a), eq. 10."""
    r, alpha, a, b = params
    _a, _b, _c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    ln_hyp = np.log(hyp2f1(_a, _b, _c, z))
    bad = np.isinf(ln_hyp)
    if bad.any():  # lifetimes' equivalent form where the direct one overflows
        shape = ln_hyp.shape
        ca, cb, cc, zz = (np.broadcast_to(v, shape)[bad] for v in (_c - _a, _c - _b, _c, z))
        ln_hyp[bad] = np.log(hyp2f1(ca, cb, cc, zz)) + (cc - ca - cb) * np.log(1 - zz)
    first = (a + b + x - 1) / (a - 1)
    return first * (1 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T))))


def _pareto_if_alive(params, x, T, t) -> np.ndarray:
    """Pareto/NBD's E[purchases in t | alive now], the closed form lifetimes multiplies by
    P(alive) (Fader, Hardie & Lee 2005b, eq. 11); the limit s -> 1 is a logarithm."""
    r, alpha, s, beta = params
    rate = (r + x) * (beta + T) / (alpha + T)
    if abs(s - 1.0) < 1e-9:
        return rate * np.log((beta + T + t) / (beta + T))
    return rate * (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0)) / (s - 1.0)


def discounted_if_alive(
    model: str, params: np.ndarray, h: Histories, step: float, periods: int, rate: float
) -> np.ndarray:
    """Per distinct (frequency, T) row and horizon i = 1..periods (columns): the sum over
    periods j <= i of expected purchases in period j (of `step` time units) if alive,
    discounted by (1 + rate)^j."""
    cumulative = if_alive(model, params, h, [j * step for j in range(1, periods + 1)])
    increments = np.diff(cumulative, axis=1, prepend=0.0)
    discount = 1.0 / (1.0 + rate) ** np.arange(1, periods + 1)
    return np.cumsum(increments * discount, axis=1)


def order_value(params: np.ndarray, x: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Gamma-Gamma's expected spend per order (lifetimes' conditional_expected_average_profit);
    the population mean for customers without repeat purchases."""
    p, q, gamma = params
    m = np.where((monetary > 0) & (x > 0), monetary, 0.0)
    with np.errstate(all="ignore"):
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * gamma * p / (q - 1) + weight * m
