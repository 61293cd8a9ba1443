"""The localisation engine on seeded synthetic leaves (the shape queries/segment_leaves.sql gives)."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from sessionlens.analysis.localise import localize
from sessionlens.analysis.segments import SegmentSettings

DIMS = {"host": [f"web0{i}" for i in range(1, 7)], "app_version": ["v1.40.2", "v1.41.0"],
        "cookie_format": ["rails-signed-sha1", "rails-encrypted-gcm", "none"], "method": ["GET", "POST"]}
SETTINGS = SegmentSettings().localize  # what analyze hands the engine


def _key(element) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(element.attributes.items()))


def _leaves(seed: int, bad: list[dict[str, str]], rate: float = 0.3, base: float = 0.004) -> pl.DataFrame:
    """One leaf per combination; the history holds four times the traffic at the base rate."""
    rng = np.random.default_rng(seed)
    rows = []
    for combo in itertools.product(*DIMS.values()):
        leaf = dict(zip(DIMS, combo, strict=True))
        n = int(rng.integers(20, 400))  # uneven leaves: some small, as a real split of traffic is
        hit = any(all(leaf[k] == v for k, v in b.items()) for b in bad)
        rows.append({**leaf, "errors": int(rng.binomial(n, rate if hit else base)), "requests": n,
                     "hist_errors": int(rng.binomial(4 * n, base)), "hist_requests": 4 * n})
    return pl.DataFrame(rows)


CASES = {
    "one attribute": ([{"host": "web04"}], {"host=web04"}),
    "a pair": ([{"cookie_format": "rails-encrypted-gcm", "app_version": "v1.40.2"}],
               {"app_version=v1.40.2&cookie_format=rails-encrypted-gcm"}),
    "two disjoint elements": ([{"host": "web02"}, {"cookie_format": "none", "method": "POST"}],
                              {"host=web02", "cookie_format=none&method=POST"}),
    "none on quiet data": ([], set()),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_names_the_elements(case, seed):
    bad, want = CASES[case]
    found = localize(_leaves(seed, bad), list(DIMS), SETTINGS)
    assert {_key(e) for e in found} == want


def test_a_weaker_rise_still_found_and_best_first():
    found = localize(_leaves(4, [{"host": "web01"}, {"method": "POST", "host": "web05"}], rate=0.08), list(DIMS),
                     SETTINGS)
    assert [_key(e) for e in found][:2] in (["host=web01", "host=web05&method=POST"],
                                            ["host=web05&method=POST", "host=web01"])
    assert found[0].score >= found[-1].score and all(0 < e.purity <= 1 and 0 < e.share <= 1 for e in found)


def test_small_leaves_count_by_poisson_tail():
    """Three errors where 0.01 were expected are anomalous however small the leaf."""
    frame = pl.DataFrame({"host": ["web01", "web01", "web02", "web02"], "method": ["GET", "POST", "GET", "POST"],
                          "errors": [40, 3, 0, 0], "requests": [120, 15, 130, 14],
                          "hist_errors": [0, 0, 1, 0], "hist_requests": [400, 40, 420, 45]})
    assert [_key(e) for e in localize(frame, ["host", "method"], SETTINGS)] == ["host=web01"]


def test_a_leaf_new_since_the_history_is_judged_by_the_overall_rate():
    frame = pl.DataFrame({"host": ["web01", "web02", "web03"], "errors": [1, 2, 60], "requests": [300, 300, 200],
                          "hist_errors": [2, 1, 0], "hist_requests": [1200, 1200, 0]})
    assert [_key(e) for e in localize(frame, ["host"], SETTINGS)] == ["host=web03"]
    # the same rates throughout: nothing stands out
    calm = frame.with_columns(errors=pl.Series([1, 2, 1]))
    assert localize(calm, ["host"], SETTINGS) == []


def test_same_answer_whatever_the_row_order():
    frame = _leaves(5, [{"host": "web03", "method": "POST"}])
    keys = [_key(e) for e in localize(frame, list(DIMS), SETTINGS)]
    assert keys == ["host=web03&method=POST"]
    assert [_key(e) for e in localize(frame.sample(fraction=1.0, shuffle=True, seed=9), list(DIMS), SETTINGS)] == keys


def test_no_leaves_or_no_dimensions():
    frame = _leaves(6, [{"host": "web01"}])
    assert localize(frame.head(0), list(DIMS), SETTINGS) == []
    assert localize(frame, [], SETTINGS) == []
