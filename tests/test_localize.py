"""Multi-dimensional localisation on seeded synthetic leaves."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from sessionlens.localize import localize


def _leaves(seed: int, bad: dict[str, str] | list[dict[str, str]], minutes: int = 15) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    bads = bad if isinstance(bad, list) else [bad]
    dims = {"cdn": ["1", "3", "5", "7"], "bitrate": ["500", "1200", "2000"], "device": ["adr", "ios", "web"], "p2p": ["0", "1"]}
    rows = []
    for t in range(minutes):
        for combo in itertools.product(*dims.values()):
            leaf = dict(zip(dims, combo))
            n = int(rng.integers(50, 200))
            rate = 0.02
            if t == minutes - 1 and any(all(leaf[k] == v for k, v in b.items()) for b in bads):
                rate = 0.4
            rows.append({"min": t, **leaf, "value": float(rng.binomial(n, rate)), "cnt": float(n)})
    return pl.DataFrame(rows)


def test_finds_a_two_attribute_element():
    frame = _leaves(1, {"bitrate": "2000", "p2p": "1"})
    found = localize(frame, ["cdn", "bitrate", "device", "p2p"], 14)
    assert [e.key() for e in found] == ["bitrate=2000&p2p=1"]


def test_finds_two_elements():
    frame = _leaves(2, [{"cdn": "7"}, {"device": "ios", "bitrate": "500"}])
    keys = {e.key() for e in localize(frame, ["cdn", "bitrate", "device", "p2p"], 14)}
    assert keys == {"cdn=7", "bitrate=500&device=ios"}


def test_nothing_wrong_finds_nothing():
    frame = _leaves(3, [])
    assert localize(frame, ["cdn", "bitrate", "device", "p2p"], 14) == []
