"""Trap scenarios: the cases that fool a naive "errors went up after X" tool.

Each scenario writes nginx-edge access logs, sessionlens markers and an
``expected.json`` with what a correct analysis says.
"""

from __future__ import annotations

import random
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .core import UTC, BROWSERS, iso, nginx_edge_line, open_out, write_json, write_jsonl

START = datetime(2024, 5, 6, tzinfo=UTC)
HOSTS = ["web01", "web02", "web03", "web04", "web05", "web06", "web07", "web08"]
BASE_ERROR = 0.001


def _at(day: int, hh: int, mm: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hh, minutes=mm)


def simulate(out: Path, seed: int, days: int, per_second: float,
             traffic: Callable[[datetime], float], error: Callable[[datetime, str, str], float],
             clients: int = 3000) -> int:
    """Writes one access log; returns the number of requests.

    ``traffic(t)`` multiplies the request rate; ``error(t, host, client)`` is
    the chance a request is a session error.
    """
    rng = random.Random(seed)
    ips = [f"{rng.randint(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}" for _ in range(clients)]
    n = 0
    with open_out(out / "logs" / "access.log") as fh:
        t = START
        end = START + timedelta(days=days)
        while t < end:
            hour = t.hour + t.minute / 60
            lam = per_second * 60 * traffic(t) * (0.35 + 0.65 * (1 + __import__("math").cos((hour - 15) / 24 * 6.283)) / 2)
            count = max(0, int(rng.gauss(lam, lam ** 0.5))) if lam > 30 else sum(1 for _ in range(int(lam * 3)) if rng.random() < 1 / 3)
            for ts in sorted(t + timedelta(seconds=rng.random() * 60) for _ in range(count)):
                host = rng.choice(HOSTS)
                ip = rng.choice(ips)
                failed = rng.random() < error(ts, host, ip)
                post = rng.random() < 0.1
                status = (422 if post else 302) if failed else 200
                r = {"ts": ts, "ip": ip, "ua": BROWSERS[_stable(ip) % len(BROWSERS)], "method": "POST" if post else "GET",
                     "uri": f"/items/{rng.randint(1, 9999)}", "status": status, "bytes": rng.randint(200, 9000),
                     "latency": rng.uniform(0.01, 0.3), "host": host, "version": "v2.3.0", "cookie": f"sess{_stable(ip) % 10**8:08d}xyzABC",
                     "edge": "on", "cache": "dynamic",
                     "location": "/login?reason=expired" if failed and not post else None}
                fh.write(nginx_edge_line(r) + "\n")
                n += 1
            t += timedelta(minutes=1)
    return n


def _stable(text: str) -> int:
    """A hash that is the same in every process (hash() is not)."""
    return zlib.crc32(text.encode())


def _marker(cid: str, at: datetime, kind: str, label: str, **scope) -> dict:
    d = {"id": cid, "at": iso(at), "kind": kind, "label": label}
    if scope:
        d["scope"] = scope
    return d


def surge(out: Path, seed: int = 1, scale: float = 1.0) -> dict:
    """Traffic triples for two hours; the error rate does not move: no spike."""
    simulate(out, seed, 2, 0.4 * scale, lambda t: 3.0 if _at(1, 13) <= t < _at(1, 15) else 1.0, lambda t, h, c: BASE_ERROR)
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("campaign-email", _at(1, 12, 55), "other", "Newsletter sent")])
    return {"spikes": 0}


def late_change(out: Path, seed: int = 2, scale: float = 1.0) -> dict:
    """Errors rise at 14:00; a config change at 14:12 is a response, not the cause."""
    spike = lambda t, h, c: 0.08 if _at(1, 14) <= t < _at(1, 15) else BASE_ERROR  # noqa: E731
    simulate(out, seed, 2, 0.4 * scale, lambda t: 1.0, spike)
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("config-late", _at(1, 14, 12), "config", "Raise session TTL")])
    return {"spikes": 1, "onset_after": iso(_at(1, 13, 55)), "onset_before": iso(_at(1, 14, 6)), "explained_by": None,
            "roles": {"config-late": "response"}}


def canary(out: Path, seed: int = 3, scale: float = 1.0) -> dict:
    """A canary on web07 and a global flag at the same minute; the errors sit on web07."""
    err = lambda t, h, c: 0.25 if (_at(1, 14) <= t < _at(1, 15, 30) and h == "web07") else BASE_ERROR  # noqa: E731
    simulate(out, seed, 2, 0.5 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("canary-77", _at(1, 14), "deploy", "v2.4.0 canary", hosts=["web07"]),
        _marker("flag-new-nav", _at(1, 14), "feature_flag", "new navigation for everyone"),
    ])
    return {"spikes": 1, "explained_by": "canary-77", "segment": {"dimension": "host", "value": "web07"}}


def stale_cookies(out: Path, seed: int = 4, scale: float = 1.0) -> dict:
    """Three clients replay stale cookies every few seconds for two hours; the
    changes nearby have nothing to do with it."""
    simulate(out, seed, 2, 0.5 * scale, lambda t: 1.0, lambda t, h, c: BASE_ERROR)
    rng = random.Random(seed)
    replayers = ["198.51.100.61", "198.51.100.62", "203.0.113.250"]
    with open(out / "logs" / "access.log", "a") as fh:
        t = _at(1, 14)
        while t < _at(1, 16):
            ip = rng.choice(replayers)
            fh.write(nginx_edge_line({
                "ts": t, "ip": ip, "ua": "python-requests/2.31", "method": "POST", "uri": "/api/sync", "status": 422,
                "bytes": 120, "latency": 0.01, "host": rng.choice(HOSTS), "version": "v2.3.0", "cookie": f"stale{_stable(ip)}",
                "edge": "on", "cache": "dynamic"}) + "\n")
            t += timedelta(seconds=rng.uniform(2, 6) / max(scale, 0.1))
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("config-cdn-ttl", _at(1, 13, 20), "config", "CDN TTL raised"),
        _marker("deploy-docs", _at(1, 13, 40), "deploy", "docs site deploy", hosts=["web02"]),
    ])
    return {"spikes": 1, "explained_by": None, "segment": {"dimension": "client_key"}}


def nightly(out: Path, seed: int = 5, scale: float = 1.0) -> dict:
    """Every night at 03:00 a session purge job causes errors (normal for 03:00);
    on the last day a real spike at 15:00 follows a deploy."""

    def err(t, h, c):
        if t.hour == 3 and t.minute < 30:
            return 0.05
        if _at(3, 15) <= t < _at(3, 16, 30):
            return 0.06
        return BASE_ERROR

    simulate(out, seed, 4, 0.3 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("deploy-900", _at(3, 14, 58), "deploy", "v2.5.0")])
    return {"spikes": 1, "onset_after": iso(_at(3, 14, 55)), "onset_before": iso(_at(3, 15, 6)), "explained_by": "deploy-900"}


def two_spikes(out: Path, seed: int = 6, scale: float = 1.0) -> dict:
    """Two spikes, two causes."""

    def err(t, h, c):
        if _at(1, 10) <= t < _at(1, 11) and h in ("web01", "web02"):
            return 0.3
        if _at(1, 16) <= t < _at(1, 17):
            return 0.05
        return BASE_ERROR

    simulate(out, seed, 2, 0.4 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-a", _at(1, 9, 59), "deploy", "v3.0.0 on web01-02", hosts=["web01", "web02"]),
        _marker("rollback-a", _at(1, 11), "rollback", "roll back web01-02", hosts=["web01", "web02"]),
        _marker("config-b", _at(1, 15, 59), "session_store", "Redis session store failover"),
    ])
    return {"spikes": 2, "explained_by": ["deploy-a", "config-b"]}


def quiet(out: Path, seed: int = 7, scale: float = 1.0) -> dict:
    """A quiet day with several harmless changes: no spike."""
    simulate(out, seed, 2, 0.4 * scale, lambda t: 1.0, lambda t, h, c: BASE_ERROR)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-q1", _at(1, 10), "deploy", "v2.3.1"), _marker("flag-q2", _at(1, 12), "feature_flag", "dark mode"),
        _marker("cache-q3", _at(1, 15), "cache", "purge"),
    ])
    return {"spikes": 0}


TRAPS = {f.__name__: f for f in (surge, late_change, canary, stale_cookies, nightly, two_spikes, quiet)}


def generate_trap(name: str, out: Path, seed: int | None = None, scale: float = 1.0) -> dict:
    """Writes one trap scenario and its expected.json; returns the expectation."""
    fn = TRAPS[name]
    expected = fn(Path(out), scale=scale) if seed is None else fn(Path(out), seed=seed, scale=scale)
    write_json(Path(out) / "expected.json", expected)
    return expected
