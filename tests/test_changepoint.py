"""Change-point searches on seeded synthetic series (every implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from sessionlens.changepoint import binseg, pelt
from sessionlens.detect import onset_index

METHODS = [binseg, pelt]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_finds_level_shifts(method, seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(4, 1, 150), rng.normal(-1, 1, 150)])
    cps = method(x)
    assert any(abs(c - 200) <= 5 for c in cps) and any(abs(c - 350) <= 5 for c in cps)
    assert len(cps) <= 4


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_noise_alone_has_no_change(method):
    x = np.random.default_rng(9).normal(10, 2, 500)
    assert method(x) == []


def test_poisson_onset_scan():
    rng = np.random.default_rng(4)
    req = rng.poisson(100, 120).astype(float)
    err = np.concatenate([rng.poisson(0.2, 70), rng.poisson(15, 50)]).astype(float)
    assert abs(onset_index(req, err, 0, 120) - 70) <= 1
