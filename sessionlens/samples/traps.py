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

from .core import BROWSERS, UTC, iso, nginx_edge_line, open_out, write_json, write_jsonl

START = datetime(2024, 5, 6, tzinfo=UTC)
HOSTS = ["web01", "web02", "web03", "web04", "web05", "web06", "web07", "web08"]
BASE_ERROR = 0.001


def _at(day: int, hh: int, mm: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hh, minutes=mm)


def simulate(out: Path, seed: int, days: int, per_second: float,
             traffic: Callable[[datetime], float], error: Callable[[datetime, str, str], float],
             clients: int = 3000, hosts: list[str] | None = None,
             post_error: Callable[[datetime, str, str], float] | None = None,
             version: Callable[[datetime, str], str] | None = None) -> int:
    """Writes one access log; returns the number of requests.

    ``traffic(t)`` multiplies the request rate; ``error(t, host, client)`` is
    the chance a request is a session error (``post_error``, when given, for
    POSTs); ``version(t, host)`` the app version a host runs.
    """
    hosts = hosts or HOSTS
    rng = random.Random(seed)
    ips = [f"{rng.randint(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}" for _ in range(clients)]  # noqa: E501
    n = 0
    with open_out(out / "logs" / "access.log") as fh:
        t = START
        end = START + timedelta(days=days)
        while t < end:
            hour = t.hour + t.minute / 60
            lam = per_second * 60 * traffic(t) * (0.35 + 0.65 * (1 + __import__("math").cos((hour - 15) / 24 * 6.283)) / 2)  # noqa: E501
            count = max(0, int(rng.gauss(lam, lam ** 0.5))) if lam > 30 else sum(1 for _ in range(int(lam * 3)) if rng.random() < 1 / 3)  # noqa: E501
            for ts in sorted(t + timedelta(seconds=rng.random() * 60) for _ in range(count)):
                host = rng.choice(hosts)
                ip = rng.choice(ips)
                post = rng.random() < 0.1
                failed = rng.random() < (post_error if post and post_error else error)(ts, host, ip)
                status = (422 if post else 302) if failed else 200
                r = {"ts": ts, "ip": ip, "ua": BROWSERS[_stable(ip) % len(BROWSERS)], "method": "POST" if post else "GET",  # noqa: E501
                     "uri": f"/items/{rng.randint(1, 9999)}", "status": status, "bytes": rng.randint(200, 9000),
                     "latency": rng.uniform(0.01, 0.3), "host": host, "version": version(ts, host) if version else "v2.3.0", "cookie": f"sess{_stable(ip) % 10**8:08d}xyzABC",  # noqa: E501
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
    d: dict[str, object] = {"id": cid, "at": iso(at), "kind": kind, "label": label}
    if scope:
        d["scope"] = scope
    return d


def surge(out: Path, seed: int = 1, scale: float = 1.0) -> dict:
    """Traffic triples for two hours; the error rate does not move: no spike."""
    simulate(out, seed, 2, 0.4 * scale, lambda t: 3.0 if _at(1, 13) <= t < _at(1, 15) else 1.0, lambda t, h, c: BASE_ERROR)  # noqa: E501
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("campaign-email", _at(1, 12, 55), "other", "Newsletter sent")])  # noqa: E501
    return {"spikes": 0}


def late_change(out: Path, seed: int = 2, scale: float = 1.0) -> dict:
    """Errors rise at 14:00; a config change at 14:12 is a response, not the cause."""
    spike = lambda t, h, c: 0.08 if _at(1, 14) <= t < _at(1, 15) else BASE_ERROR  # noqa: E731
    simulate(out, seed, 2, 0.4 * scale, lambda t: 1.0, spike)
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("config-late", _at(1, 14, 12), "config", "Raise session TTL")])  # noqa: E501
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
                "bytes": 120, "latency": 0.01, "host": rng.choice(HOSTS), "version": "v2.3.0", "cookie": f"stale{_stable(ip)}",  # noqa: E501
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
    return {"spikes": 1, "onset_after": iso(_at(3, 14, 55)), "onset_before": iso(_at(3, 15, 6)), "explained_by": "deploy-900"}  # noqa: E501


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
        _marker("deploy-q1", _at(1, 10), "deploy", "v2.3.1"), _marker("flag-q2", _at(1, 12), "feature_flag", "dark mode"),  # noqa: E501
        _marker("cache-q3", _at(1, 15), "cache", "purge"),
    ])
    return {"spikes": 0}


TEN_HOSTS = [f"web{i:02d}" for i in range(1, 11)]


def canary_one_host(out: Path, seed: int = 8, scale: float = 1.0) -> dict:
    """A canary on web04, one host of ten, makes that host's POSTs fail: its own rate
    jumps about tenfold while the overall rate moves by a fraction."""
    on_canary = lambda t, h: h == "web04" and _at(1, 14, 30) <= t < _at(1, 16)  # noqa: E731
    simulate(out, seed, 2, 2.0 * scale, lambda t: 1.0, lambda t, h, c: 0.004,
             hosts=TEN_HOSTS, post_error=lambda t, h, c: 0.4 if on_canary(t, h) else 0.004,
             version=lambda t, h: "v5.1.0" if on_canary(t, h) else "v5.0.3")
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("flag-search", _at(1, 13, 50), "feature_flag", "new search box for everyone"),
        _marker("canary-510", _at(1, 14, 29), "deploy", "v5.1.0 canary on web04", hosts=["web04"]),
        _marker("canary-510-off", _at(1, 16), "rollback", "canary removed from web04", hosts=["web04"]),
    ])
    return {"spikes": 1, "explained_by": "canary-510", "onset_after": iso(_at(1, 14, 25)),
            "onset_before": iso(_at(1, 14, 40)), "spike_segment": {"dimension": "host", "value": "web04"},
            "roles": {"canary-510": "cause", "canary-510-off": "response"}}


def small_site(out: Path, seed: int = 9, scale: float = 1.0) -> dict:
    """A small site, a few requests a minute: a config change makes the error rate
    ten times its usual 1% for two hours (no bucket alone holds enough errors)."""
    err = lambda t, h, c: 0.10 if _at(1, 13) <= t < _at(1, 15) else 0.01  # noqa: E731
    simulate(out, seed, 3, 0.06 * scale, lambda t: 1.0, err, clients=300)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-theme", _at(1, 9), "deploy", "new theme"),
        _marker("config-cookie-domain", _at(1, 12, 58), "config", "session cookie domain set to .example.org"),
    ])
    return {"spikes": 1, "explained_by": "config-cookie-domain", "onset_after": iso(_at(1, 12, 40)),
            "onset_before": iso(_at(1, 13, 20))}


def slow_rise(out: Path, seed: int = 10, scale: float = 1.0) -> dict:
    """One extra session error a minute for an hour and a half, on a site with about
    one error every ten minutes: no single minute stands out."""
    def err(t, h, c):
        return 0.002 + (1 / 50 if _at(1, 11) <= t < _at(1, 12, 30) else 0.0)  # ~50 requests a minute at 11:00

    simulate(out, seed, 3, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("session-store-resize", _at(1, 10, 58), "session_store", "session store shrunk to 2 GB"),
    ])
    return {"spikes": 1, "explained_by": "session-store-resize", "onset_after": iso(_at(1, 10, 50)),
            "onset_before": iso(_at(1, 11, 15))}


def narrow_window(out: Path, seed: int = 11, scale: float = 1.0) -> dict:
    """A 14% error rate from 16:10 (baseline 0.1%), analysed with a window of 16:00-17:00 only:
    the baseline comes from before the window and the spike is still found, dated 16:10."""
    err = lambda t, h, c: 0.14 if _at(1, 16, 10) <= t < _at(1, 18) else BASE_ERROR  # noqa: E731
    simulate(out, seed, 2, 0.5 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-cookie-samesite", _at(1, 16, 8), "deploy", "SameSite=Strict on the session cookie")])
    return {"analyze": {"since": iso(_at(1, 16)), "until": iso(_at(1, 17))}, "spikes": 1,
            "explained_by": "deploy-cookie-samesite", "onset_after": iso(_at(1, 16, 5)),
            "onset_before": iso(_at(1, 16, 15))}


def no_signal(out: Path, seed: int = 12, scale: float = 1.0) -> dict:
    """Apache combined logs with no session cookie and no status a session rule knows:
    the analysis cannot judge, and says so (exit 4), instead of "normal"."""
    rng = random.Random(seed)
    with open_out(out / "logs" / "access_log") as fh:
        t = _at(0, 0)
        while t < _at(1, 0):
            t += timedelta(seconds=rng.expovariate(0.2 * scale))
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
            status = rng.choice([200] * 30 + [304, 404, 500])
            fh.write(f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET /docs/{rng.randint(1, 500)}.html HTTP/1.1" '
                     f'{status} {rng.randint(300, 30000)} "-" "{rng.choice(BROWSERS)}"\n')
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("deploy-docs", _at(0, 12), "deploy", "docs v9")])
    return {"spikes": 0, "verdict": "no-signal"}


def empty_window(out: Path, seed: int = 13, scale: float = 1.0) -> dict:
    """A window after the end of the data: no data, with the lake's range, never "normal"."""
    simulate(out, seed, 1, 0.3 * scale, lambda t: 1.0, lambda t, h, c: BASE_ERROR)
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("deploy-e1", _at(0, 12), "deploy", "v2.3.1")])
    return {"analyze": {"since": iso(_at(3, 0)), "until": iso(_at(3, 6))}, "spikes": 0, "verdict": "no-data"}


TRAPS = {f.__name__: f for f in (surge, late_change, canary, stale_cookies, nightly, two_spikes, quiet,
                                 canary_one_host, small_site, slow_rise, narrow_window, no_signal, empty_window)}


def generate_trap(name: str, out: Path, seed: int | None = None, scale: float = 1.0) -> dict:
    """Writes one trap scenario and its expected.json; returns the expectation."""
    fn = TRAPS[name]
    expected = fn(Path(out), scale=scale) if seed is None else fn(Path(out), seed=seed, scale=scale)
    write_json(Path(out) / "expected.json", expected)
    return expected
