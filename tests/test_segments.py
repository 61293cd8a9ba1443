"""Segments through the whole product: nginx logs ingested, analyzed, the spike's segments read.

Two seeded incidents a day and a half long (one quiet day of history):

* canary: at 14:00 web07 alone gets v2.4.0, which cannot read the sessions
  the others wrote; a global feature flag flips the same minute;
* pair: the edge worker starts bypassing session repair for some clients;
  only their checkout requests fail (neither the bypass nor checkout alone
  explains the spike: their combination does).
"""

from __future__ import annotations

import json
import random
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sessionlens import ingest
from sessionlens.analysis.pipeline import analyze
from sessionlens.changes.store import import_markers
from sessionlens.samples.core import BROWSERS, nginx_edge_line

START = datetime(2024, 6, 3, tzinfo=timezone.utc)
ONSET, END = START + timedelta(days=1, hours=14), START + timedelta(days=1, hours=15, minutes=30)
HOSTS = [f"web0{i}" for i in range(1, 9)]
PAGES = [(45, "GET", "/products/{n}"), (12, "GET", "/search"), (10, "GET", "/account"), (8, "GET", "/assets/app.js"),
         (12, "GET", "/checkout/{n}"), (8, "POST", "/checkout/{n}"), (5, "POST", "/cart/items")]


def _write(base: Path, scenario: str, seed: int = 11) -> None:
    rng = random.Random(seed)
    clients = [(f"{rng.randint(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}",
                rng.choice(BROWSERS), f"sess{rng.getrandbits(40):010x}Ab") for _ in range(1500)]
    weights = [w for w, _, _ in PAGES]
    lines = []
    t = START
    while t < START + timedelta(days=1, hours=18):
        for _ in range(int(rng.gauss(40, 6))):
            ts = t + timedelta(seconds=rng.random() * 60)
            ip, ua, cookie = rng.choice(clients)
            host = rng.choice(HOSTS)
            _, method, template = rng.choices(PAGES, weights=weights)[0]
            uri = template.format(n=rng.randint(1, 99999))
            during = ONSET <= ts < END
            # the canary is rolled back at the end
            version = "v2.4.0" if scenario == "canary" and host == "web07" and during else "v2.3.0"
            # the worker bypasses its repair for one client in three (by cookie) once it misbehaves
            bypass = scenario == "pair" and during and zlib.crc32(cookie.encode()) % 3 == 0
            edge = "bypass" if bypass else "on"
            p = 0.001
            if scenario == "canary" and version == "v2.4.0" and not uri.startswith("/assets"):
                p = 0.5
            if bypass and uri.startswith("/checkout"):
                p = 0.6
            failed = rng.random() < p
            status = (422 if method == "POST" else 302) if failed else 200
            lines.append((ts, nginx_edge_line({
                "ts": ts, "ip": ip, "ua": ua, "method": method, "uri": uri, "status": status,
                "bytes": rng.randint(300, 20000), "latency": rng.uniform(0.01, 0.4), "host": host, "version": version,
                "cookie": cookie, "edge": edge, "cache": "hit" if uri.startswith("/assets") else "dynamic",
                "location": "/login?reason=expired" if failed and method == "GET" else None,
                "referer": "https://shop.example.com/cart" if method == "POST" else None})))
        t += timedelta(minutes=1)
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "access.log").write_text("".join(line + "\n" for _, line in sorted(lines)))
    markers = [{"id": "flag-nav", "at": ONSET.isoformat(), "kind": "feature_flag", "label": "new navigation"}]
    if scenario == "canary":
        markers.append({"id": "canary-24", "at": ONSET.isoformat(), "kind": "deploy", "label": "v2.4.0 canary",
                        "scope": {"hosts": ["web07"], "version": "v2.4.0"}})
    (base / "markers").mkdir()
    (base / "markers" / "changes.jsonl").write_text("".join(json.dumps(m) + "\n" for m in markers))


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    out = {}
    for scenario in ("canary", "pair"):
        base = tmp_path_factory.mktemp(scenario)
        _write(base, scenario)
        ingest(base / "lake", [str(base / "logs")])
        import_markers(base / "lake", [str(base / "markers" / "changes.jsonl")])
        out[scenario] = analyze(base / "lake")
    return out


def _spike(analysis):
    """The spike the incident raised (detection may cut a long one in parts: the first part is read)."""
    spikes = [(r.spike.onset, r.spike.end) for r in analysis.spikes]
    late = END + timedelta(minutes=30)
    assert spikes and all(ONSET - timedelta(minutes=10) <= a and b <= late for a, b in spikes), spikes
    report = analysis.spikes[0]
    assert report.spike.onset <= ONSET + timedelta(minutes=10), spikes
    return report


def test_canary_top_segment_names_the_host(analyzed):
    report = _spike(analyzed["canary"])
    top = report.segments[0]
    assert top.dimension in ("host", "host_version", "host&app_version") and "web07" in top.value, report.segments
    assert top.error_share > 0.8 and top.request_share < 0.25 and top.rate > 0.1
    # no other host is blamed, alone or in a combination
    assert not any(h in s.value for s in report.segments for h in HOSTS if h != "web07"), report.segments
    assert report.explained_by == "canary-24"


def test_pair_is_named_as_a_combination(analyzed):
    report = _spike(analyzed["pair"])
    combos = {(s.dimension, s.value): s for s in report.segments}
    seg = combos.get(("edge_worker&route_family", "bypass&/checkout"))
    assert seg is not None, [(s.dimension, s.value) for s in report.segments]
    # shares and rate of exactly that combination: most errors, a small part of the traffic, a high rate
    assert seg.error_share > 0.8 and seg.request_share < 0.1 and 0.4 < seg.rate < 0.8
    # the single views come first and the combination after them
    assert report.segments.index(seg) > 0 and report.segments[0].dimension in ("edge_worker", "route")


def test_segments_in_the_json_contract(analyzed):
    doc = analyzed["pair"].to_json()
    for g in doc["spikes"][0]["segments"]:
        assert set(g) == {"dimension", "value", "error_share", "request_share", "rate"}
        # a combination spells as many values as dimensions
        assert g["dimension"].count("&") == g["value"].count("&")
        assert 0 < g["request_share"] < g["error_share"] <= 1
