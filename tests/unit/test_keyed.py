"""The demo's keyed random numbers: the same coordinates give the same number, whatever else is
drawn, and each sampler follows its law."""

from __future__ import annotations

import numpy as np
import pytest

from churnhealth.synth.keyed import Keyed

N = 400_000


@pytest.fixture(scope="module")
def k() -> Keyed:
    return Keyed(np.random.SeedSequence(5))


def test_a_number_depends_on_its_coordinates_only(k):
    accounts = np.arange(1000)
    some = k.uniform("x", accounts, 7)
    assert np.array_equal(k.uniform("x", accounts[::3], 7), some[::3])  # fewer drawn: same
    assert k.uniform("x", 12, 7) == some[12]
    assert not np.allclose(k.uniform("y", accounts, 7), some)  # another label
    assert not np.allclose(k.uniform("x", accounts, 8), some)  # another month
    assert not np.allclose(Keyed(np.random.SeedSequence(6)).uniform("x", accounts, 7), some)
    assert some.min() > 0 and some.max() < 1


def test_uniforms_are_uniform_and_independent_of_neighbours(k):
    u = k.uniform("u", np.arange(N))
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    counts, _ = np.histogram(u, bins=20, range=(0, 1))
    assert counts.min() > N / 20 * 0.97 and counts.max() < N / 20 * 1.03


@pytest.mark.parametrize("lam", [0.05, 1.5, 12.0, 29.0, 31.0, 400.0])
def test_poisson_counts(k, lam):
    x = k.poisson(lam, "p", np.arange(N))
    se = np.sqrt(lam / N)
    assert abs(x.mean() - lam) < 5 * se and abs(x.var() / lam - 1) < 0.03
    assert x.min() >= 0


@pytest.mark.parametrize(("n", "p"), [(3, 0.3), (900, 0.01), (900, 0.2), (5, 0.9), (40, 0.5)])
def test_binomial_counts(k, n, p):
    x = k.binomial(n, p, "b", np.arange(N))
    mean, var = n * p, n * p * (1 - p)
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / N)
    assert abs(x.var() / var - 1) < 0.03
    assert x.min() >= 0 and x.max() <= n


def test_other_laws(k):
    g = k.gamma2(3.0, "g", np.arange(N))
    assert abs(g.mean() - 6) < 0.05 and abs(g.var() / 18 - 1) < 0.03
    geo = k.geometric(0.05, "geo", np.arange(N))
    assert geo.min() == 1 and abs(geo.mean() - 20) < 0.3
    z = k.normal("z", np.arange(N))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    i = k.integers(3, 21, "i", np.arange(N))
    assert i.min() == 3 and i.max() == 20
