"""Spike detection on seeded synthetic count series: the pooled search, onsets, segments, quiet data.

Series are Poisson counts of requests and session errors per minute, with
a daily rhythm, built here so that every case knows its truth.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from sessionlens.analysis.cusum import cusum, episodes, threshold_for
from sessionlens.analysis.segment_spikes import find_segment_spikes
from sessionlens.analysis.spikes import DetectSettings, find_spikes, fit_baseline

T0 = datetime(2024, 5, 6, tzinfo=timezone.utc)


def _series(seed: int, minutes: int, per_minute: float, rate, traffic=lambda i: 1.0) -> pl.DataFrame:
    """Requests ~ Poisson(per_minute x daily rhythm x traffic(i)), errors ~ Binomial(requests, rate(i))."""
    rng = np.random.default_rng(seed)
    i = np.arange(minutes)
    rhythm = 0.4 + 0.6 * (1 + np.cos((i / 60 % 24 - 15) / 24 * 2 * np.pi)) / 2
    req = rng.poisson(per_minute * rhythm * np.array([traffic(k) for k in i]))
    err = rng.binomial(req, np.array([rate(k) for k in i]))
    return pl.DataFrame({"bucket": [T0 + timedelta(minutes=int(k)) for k in i], "requests": req, "errors": err})


DAY = 24 * 60


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("per_minute", [3, 60, 2000])
def test_quiet_series_have_no_spike(seed, per_minute):
    s = _series(seed, 2 * DAY, per_minute, lambda i: 0.002)
    assert find_spikes(s, 60, searched=50) == []


@pytest.mark.parametrize("seed", range(4))
def test_a_surge_at_the_same_rate_is_no_spike(seed):
    s = _series(seed, 2 * DAY, 60, lambda i: 0.002, traffic=lambda i: 4.0 if DAY + 600 <= i < DAY + 720 else 1.0)
    assert find_spikes(s, 60) == []


@pytest.mark.parametrize("seed", range(4))
def test_a_nightly_purge_is_normal_for_its_hour(seed):
    purge = lambda i: 0.05 if (i % DAY) // 60 == 3 and i % 60 < 20 else 0.002  # noqa: E731
    s = _series(seed, 4 * DAY, 20, purge)
    assert find_spikes(s, 60) == []


@pytest.mark.parametrize("seed", range(5))
def test_small_site_tenfold_rise_found_with_its_onset(seed):
    # three requests a minute: a 1% rate becomes 10% for two hours; no minute holds enough errors alone
    start = DAY + 13 * 60
    s = _series(seed, 3 * DAY, 3, lambda i: 0.10 if start <= i < start + 120 else 0.01)
    spikes = find_spikes(s, 60, searched=50)
    assert len(spikes) == 1
    onset = (spikes[0].onset - T0).total_seconds() / 60
    assert abs(onset - start) <= 15


@pytest.mark.parametrize("seed", range(5))
def test_one_extra_error_a_minute_is_found(seed):
    start = DAY + 11 * 60
    s = _series(seed, 3 * DAY, 50, lambda i: 0.002 + (0.02 if start <= i < start + 90 else 0.0))
    spikes = find_spikes(s, 60, searched=50)
    assert len(spikes) == 1
    assert abs((spikes[0].onset - T0).total_seconds() / 60 - start) <= 10
    assert spikes[0].onset_earliest is None or spikes[0].onset_earliest <= spikes[0].onset


def test_cusum_is_lindleys_recursion():
    rng = np.random.default_rng(1)
    err = rng.poisson(0.5, size=(3, 400)).astype(float)
    mu = np.full_like(err, 0.5)
    s = cusum(err, mu, 2.0)
    slow = np.zeros_like(err)
    for r in range(3):
        acc = 0.0
        for t in range(400):
            acc = max(0.0, acc + err[r, t] * np.log(2.0) - mu[r, t])
            slow[r, t] = acc
    assert np.allclose(s, slow)


def test_cusum_threshold_counts_every_series():
    assert threshold_for(1000, 100, 2, 0.01) > threshold_for(1000, 1, 2, 0.01)
    mu = np.full((200, 2000), 0.3)
    err = np.random.default_rng(3).poisson(mu).astype(float)
    h = threshold_for(2000, 200, 2, 0.01)
    assert episodes(err, mu, (2.0, 8.0), h) == []  # 200 quiet series, no false episode


def _segments(seed: int, hosts: int, bad: str | None, start: int, minutes: int) -> tuple[pl.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    frames, total = [], None
    for h in range(hosts):
        name = f"web{h + 1:02d}"
        rate = lambda i, name=name: 0.05 if (name == bad and start <= i < start + minutes) else 0.004  # noqa: E731
        s = _series(seed * 100 + h, 2 * DAY, 12, rate).with_columns(value=pl.lit(name))
        frames.append(s)
        total = s if total is None else total.with_columns(requests=total["requests"] + s["requests"],
                                                           errors=total["errors"] + s["errors"])
    del rng
    long = pl.concat(frames).select("value", "bucket", "requests", "errors").filter(pl.col("requests") > 0)
    return total, {"host": long}


@pytest.mark.parametrize("seed", range(4))
def test_canary_on_one_host_of_ten_is_a_segment_spike(seed):
    start = DAY + 14 * 60 + 30
    total, frames = _segments(seed, 10, "web04", start, 90)
    settings = DetectSettings()
    searched = 11
    fit = fit_baseline(total, 60, settings, searched)
    overall = find_spikes(total, 60, settings, searched)
    spikes = find_segment_spikes(frames, fit, overall, 60, settings, searched)
    assert len(spikes) == 1
    assert spikes[0].segment == ("host", "web04")
    assert abs((spikes[0].onset - T0).total_seconds() / 60 - start) <= 10  # ten requests a minute on that host


@pytest.mark.parametrize("seed", range(4))
def test_quiet_hosts_have_no_segment_spike(seed):
    total, frames = _segments(seed, 10, None, 0, 0)
    fit = fit_baseline(total, 60, DetectSettings(), 11)
    assert find_segment_spikes(frames, fit, [], 60, DetectSettings(), 11) == []
