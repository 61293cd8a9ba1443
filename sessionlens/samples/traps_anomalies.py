"""Anomaly traps: session anomalies seen only in access logs, and their look-alikes.

Each scenario writes nginx-edge access logs (no app events), sessionlens
markers and returns what a correct analysis says (as ``traps.py`` does).
Unlike ``traps.simulate``, where a client keeps one cookie for ever, every
user here holds a session that can be wiped: a wiped cookie is rejected
once (a redirect to the login page, or a 422 on a form post) and the user
signs in again with a new one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .core import (
    BROWSERS,
    Cookies,
    arrivals,
    cumulative,
    iso,
    make_users,
    nginx_edge_line,
    open_out,
    pick_user,
    write_json,
    write_jsonl,
)
from .traps import HOSTS, START, _at, _marker

ROUTES = [
    # (weight, method, template, needs a session)
    (30, "GET", "/items/{n}", False),
    (10, "GET", "/", False),
    (8, "GET", "/assets/app.{n}.js", False),
    (14, "GET", "/account", True),
    (12, "GET", "/cart", True),
    (8, "POST", "/cart/items", True),
    (4, "POST", "/orders", True),
]
NAT_IP = "198.51.100.10"  # an office: many users, one address, one browser build
EXPIRY = 0.0015  # chance a signed-in request finds its session expired (TTL, idle timeout)


@dataclass
class Site:
    """What happens on the simulated site, besides ordinary traffic."""

    days: int = 2
    per_second: float = 0.8
    users: int = 3000
    wipes: tuple[datetime, ...] = ()  # every session issued before one of these is rejected from then on
    versions: tuple[tuple[datetime, str], ...] = ()  # (from, app version): a deploy that keeps sessions valid
    nat_users: int = 0  # users behind NAT_IP, each with a session of their own
    user_header: bool = True  # the response names the signed-in user (x-user-id)


def simulate_site(out: Path, seed: int, scale: float, site: Site) -> dict:
    """Writes ``logs/access.log``; returns counts of what happened (the ground truth)."""
    rng = random.Random(seed)
    cookies = Cookies(rng)
    users = make_users(rng, max(300, int(site.users * scale)), prefix="s")
    office_browser = BROWSERS[1]
    for u in users[:site.nat_users]:
        u.ip, u.ua = NAT_IP, office_browser
    issued: dict[str, datetime] = {}
    for u in users:
        if rng.random() < 0.6:
            u.logged_in, u.cookie = True, cookies.make("rails-encrypted-gcm")
            issued[u.uid] = START - timedelta(hours=rng.uniform(1, 48))
    cum = cumulative(users)
    weights = [r[0] for r in ROUTES]
    lines: list[tuple[datetime, str]] = []
    wiped: dict[datetime, set[str]] = {w: set() for w in site.wipes}
    worked: set[str] = set()  # sessions (cookies) that had a successful request
    expired = 0

    def version(t: datetime) -> str:
        current = "v2.3.0"
        for since, v in site.versions:
            if t >= since:
                current = v
        return current

    def emit(t, u, method, uri, status, location=None):
        user_hdr = u.uid if (u.logged_in and site.user_header and status < 400) else None
        lines.append((t, nginx_edge_line({
            "ts": t, "ip": u.ip, "ua": u.ua, "method": method, "uri": uri, "status": status,
            "bytes": rng.randint(200, 9000) if status != 302 else 0, "latency": rng.uniform(0.01, 0.3),
            "host": rng.choice(HOSTS), "version": version(t), "cookie": u.cookie, "edge": "on", "cache": "dynamic",
            "user_hdr": user_hdr, "location": location})))
        if u.cookie and status < 400:
            worked.add(u.cookie)

    def sign_in(t, u):
        u.logged_in, u.cookie = True, cookies.make("rails-encrypted-gcm")
        issued[u.uid] = t
        emit(t, u, "POST", "/users/login", 302, location="/account")

    def reject(t, u, method, uri):
        """The session is gone: sent to the login page once; most sign in again."""
        if method == "POST":
            emit(t, u, method, uri, 422)
        else:
            emit(t, u, method, uri, 302, location=f"/users/login?reason=expired&return_to={uri.replace('/', '%2F')}")
        u.logged_in, u.cookie = False, None
        emit(t + timedelta(seconds=rng.uniform(0.3, 1.5)), u, "GET", "/users/login?reason=expired", 200)
        if rng.random() < 0.85:
            sign_in(t + timedelta(seconds=rng.uniform(5, 60)), u)

    for t in arrivals(rng, START, START + timedelta(days=site.days), site.per_second * scale, peak_hour=15):
        u = pick_user(rng, users, cum)
        _, method, template, needs = rng.choices(ROUTES, weights=weights, k=1)[0]
        uri = template.format(n=rng.randint(1, 9999))
        if u.logged_in:
            wipe = next((w for w in site.wipes if issued[u.uid] < w <= t), None)
            if wipe is not None:
                if u.cookie in worked:
                    wiped[wipe].add(u.cookie)
                reject(t, u, method, uri)
                continue
            if not uri.startswith("/assets") and rng.random() < EXPIRY:
                expired += 1
                reject(t, u, method, uri)
                continue
        elif needs:
            sign_in(t, u)
            t += timedelta(seconds=rng.uniform(0.5, 3))
        emit(t, u, method, uri, 200 if rng.random() > 0.01 else 404)
        if u.logged_in and rng.random() < 0.005:
            u.logged_in = False
            emit(t + timedelta(seconds=2), u, "POST", "/users/logout", 302, location="/")
            u.cookie = None
    lines.sort(key=lambda x: x[0])
    with open_out(out / "logs" / "access.log") as fh:
        for _, line in lines:
            fh.write(line + "\n")
    return {"requests": len(lines), "expired": expired, "wiped": {iso(w): len(s) for w, s in wiped.items()}}


def mass_invalidation_access(out: Path, seed: int = 21, scale: float = 1.0) -> dict:
    """At 14:20 the Redis session store is flushed: every session is rejected once
    and its user signs in again. Access logs only; a deploy at 13:35 kept
    sessions valid and is not the cause."""
    flush = _at(1, 14, 20)
    deploy = _at(1, 13, 35)
    truth = simulate_site(out, seed, scale, Site(wipes=(flush,), versions=((deploy, "v2.4.0"),)))
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-240", deploy, "deploy", "v2.4.0: search filters"),
        _marker("redis-flushall", flush, "session_store", "FLUSHALL on the session Redis (meant for the cache Redis)"),
    ])
    return {"spikes": 1, "explained_by": "redis-flushall",
            "anomalies": [{"kind": "mass_invalidation", "at": iso(flush), "explained_by": "redis-flushall",
                           "sessions": truth["wiped"][iso(flush)]}],
            "requests": truth["requests"]}


def ordinary_day_access(out: Path, seed: int = 22, scale: float = 1.0) -> dict:
    """Two ordinary days: sessions expire now and then, an office of 80 users
    sits behind one address, and a deploy keeps every session valid. No anomaly."""
    deploy = _at(1, 11, 0)
    truth = simulate_site(out, seed, scale, Site(versions=((deploy, "v2.4.0"),), nat_users=80))
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-240", deploy, "deploy", "v2.4.0: search filters"),
        _marker("config-ttl", _at(1, 15, 0), "config", "Session idle timeout 30 -> 45 min"),
    ])
    return {"spikes": 0, "anomalies": [], "requests": truth["requests"]}


def nightly_ttl_access(out: Path, seed: int = 23, scale: float = 1.0) -> dict:
    """Every morning at 09:00 all sessions reach their absolute lifetime at once
    (a site-wide TTL): a burst of first-time failures that is normal for 09:00.
    No anomaly."""
    purges = tuple(_at(d, 9, 0) for d in range(3))
    truth = simulate_site(out, seed, scale, Site(days=3, per_second=1.0, wipes=purges))
    write_jsonl(out / "markers" / "changes.jsonl", [_marker("deploy-241", _at(2, 10, 0), "deploy", "v2.4.1")])
    return {"anomalies": [], "requests": truth["requests"], "wiped": truth["wiped"]}


ANOMALY_TRAPS: dict[str, Callable[..., dict]] = {
    f.__name__: f for f in (mass_invalidation_access, ordinary_day_access, nightly_ttl_access)}


def generate_anomaly_trap(name: str, out: Path, seed: int | None = None, scale: float = 1.0) -> dict:
    """Writes one anomaly trap and its expected.json; returns the expectation."""
    fn = ANOMALY_TRAPS[name]
    expected = fn(Path(out), scale=scale) if seed is None else fn(Path(out), seed=seed, scale=scale)
    write_json(Path(out) / "expected.json", expected)
    return expected
