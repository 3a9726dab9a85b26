"""Random numbers addressed by what they are for, not drawn in sequence.

A numpy generator hands numbers out one after another, so an account that draws more than before
(one a team kept, still logging in) shifts every number drawn after it, and every other account's
rows change. `Keyed` makes each number a hash of its coordinates: a label naming the draw, then
the account, the month, the slot. An account's rows are then a function of its own history only:
with the demo's team on, the accounts it never worked get exactly the rows they get with it off.

Counts use inversion of the uniform (exact for small means) and a rounded normal for large ones
(mean > 30), where the difference does not matter to any table.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
LARGE = 30.0
"""Means above this use the normal approximation."""


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of 64-bit integers that scrambles every bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


class Keyed:
    """Uniforms, normals and counts from (label, *coordinates); coordinates broadcast."""

    def __init__(self, seed: np.random.SeedSequence):
        self.key = np.uint64(seed.generate_state(1, np.uint64)[0])

    def uniform(self, label: str, *coords) -> np.ndarray:
        """In (0, 1), never 0 or 1."""
        with np.errstate(over="ignore"):
            h = _mix(np.asarray(self.key ^ np.uint64(zlib.crc32(label.encode()))))
            for c in coords:
                c = np.asarray(c).astype(np.int64).astype(np.uint64)
                h = _mix(h ^ (c * _GOLDEN + _GOLDEN))
        return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, label: str, *coords) -> np.ndarray:
        return ndtri(self.uniform(label, *coords))

    def integers(self, lo, hi, label: str, *coords) -> np.ndarray:
        """In [lo, hi)."""
        u = self.uniform(label, *coords)
        return np.asarray(lo) + (u * (np.asarray(hi) - np.asarray(lo))).astype(np.int64)

    def poisson(self, lam, label: str, *coords) -> np.ndarray:
        u = self.uniform(label, *coords)
        return _poisson(np.broadcast_to(np.asarray(lam, dtype=float), u.shape), u)

    def binomial(self, n, p, label: str, *coords) -> np.ndarray:
        u = self.uniform(label, *coords)
        n = np.broadcast_to(np.asarray(n, dtype=np.int64), u.shape)
        p = np.broadcast_to(np.clip(np.asarray(p, dtype=float), 0.0, 1.0), u.shape)
        flip = p > 0.5  # sample the failures: keeps (1 - p)^n from underflowing
        k = _binomial(n, np.where(flip, 1 - p, p), u)
        return np.where(flip, n - k, k)

    def gamma2(self, scale, label: str, *coords) -> np.ndarray:
        """Gamma with shape 2: the sum of two exponentials."""
        u1 = self.uniform(label, *coords, 0)
        u2 = self.uniform(label, *coords, 1)
        return -np.asarray(scale) * (np.log(u1) + np.log(u2))

    def geometric(self, p: float, label: str, *coords) -> np.ndarray:
        """Trials up to and including the first success (numpy's convention): 1, 2, …"""
        u = self.uniform(label, *coords)
        return np.maximum(np.ceil(np.log(u) / np.log1p(-p)), 1).astype(np.int64)


def _invert(u: np.ndarray, pmf: np.ndarray, ratio, cap: np.ndarray) -> np.ndarray:
    """The smallest k with CDF(k) ≥ u, walking the pmf up with `ratio(k, idx)`."""
    out = np.zeros(len(u), dtype=np.int64)
    cdf = pmf.copy()
    todo = np.flatnonzero(u > cdf)
    k = 0
    while len(todo):
        k += 1
        pmf[todo] *= ratio(k, todo)
        cdf[todo] += pmf[todo]
        out[todo] = k
        todo = todo[(u[todo] > cdf[todo]) & (k < cap[todo])]
    return out


def _poisson(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    out = np.zeros(u.shape, dtype=np.int64)
    big = lam > LARGE
    if big.any():
        lb = lam[big]
        out[big] = np.maximum(np.round(lb + np.sqrt(lb) * ndtri(u[big])), 0).astype(np.int64)
    small = (lam > 0) & ~big
    if small.any():
        ls = lam[small]
        out[small] = _invert(
            u[small], np.exp(-ls), lambda k, i: ls[i] / k, np.ceil(ls + 12 * np.sqrt(ls) + 40)
        )
    return out


def _binomial(n: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """p ≤ 0.5."""
    out = np.zeros(u.shape, dtype=np.int64)
    mean = n * p
    big = mean > LARGE
    if big.any():
        nb, pb = n[big], p[big]
        draw = np.round(nb * pb + np.sqrt(nb * pb * (1 - pb)) * ndtri(u[big]))
        out[big] = np.clip(draw, 0, nb).astype(np.int64)
    small = (mean > 0) & ~big
    if small.any():
        ns, ps = n[small].astype(float), p[small]
        odds = ps / (1 - ps)
        out[small] = _invert(
            u[small],
            np.exp(ns * np.log1p(-ps)),
            lambda k, i: (ns[i] - k + 1) / k * odds[i],
            ns,
        )
    return out
