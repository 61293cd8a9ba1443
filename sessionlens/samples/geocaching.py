"""The geocaching site, 21 Jun 2022: an automatic update made the session store unreachable.

At 20:42 UTC an unattended upgrade changed the server's session
configuration. Existing sessions could no longer be read (session errors
rise), and every user who signed in from then on was handed the same
fallback session, so 33 users saw each other's dashboards. At 22:00 UTC all
sessions were revoked and sign-in disabled (a mass invalidation); at 23:05
UTC the fix went out and sign-in came back.

Logs: Cloudflare Logpush ``http_requests`` (one file a day, each day with
another of Logpush's timestamp encodings) and structured app events.
Markers: sessionlens JSON lines and Honeycomb markers.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from .core import (
    UTC,
    Cookies,
    arrivals,
    cumulative,
    iso,
    iso_ms,
    make_users,
    open_out,
    pick_user,
    write_json,
    write_jsonl,
)

DAY = datetime(2022, 6, 21, tzinfo=UTC)
START, END = DAY - timedelta(days=2), DAY + timedelta(days=1)
UPGRADE = DAY.replace(hour=20, minute=42)
REVOKE = DAY.replace(hour=22, minute=0)
FIXED = DAY.replace(hour=23, minute=5)
SHARERS = 33
ORIGINS = ["10.20.0.11", "10.20.0.12"]
ROUTES = [
    (30, "GET", "/", False), (20, "GET", "/map", False), (15, "GET", "/cache/GC{n}", False),
    (12, "GET", "/dashboard", True), (8, "GET", "/trips/{n}", True), (6, "POST", "/trips/{n}/caches", True),
    (5, "GET", "/static/app.{n}.js", False), (4, "POST", "/api/log", True),
]
TS_ENCODINGS = ["rfc3339", "unixnano", "unix"]


def _edge_ts(t: datetime, encoding: str):
    if encoding == "rfc3339":
        return iso(t)
    if encoding == "unixnano":
        return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000
    return int(t.timestamp())


def generate(out: Path, seed: int = 7, scale: float = 1.0) -> dict:
    rng = random.Random(seed + 1)
    cookies = Cookies(rng)
    users = make_users(rng, max(300, int(3000 * scale)), prefix="g")
    for u in users:
        if rng.random() < 0.5:
            u.logged_in, u.cookie = True, cookies.make("php")
    cum = cumulative(users)
    shared_cookie = cookies.make("php")
    shared_writers: list[str] = []
    weights = [r[0] for r in ROUTES]
    requests: list[dict] = []
    events: list[dict] = []
    sharers: list[str] = []
    invalidated: set[str] = set()

    def req(t, u, method, uri, status, location=None, user_hdr=None):
        requests.append({"t": t, "u": u.uid, "ip": u.ip, "ua": u.ua, "method": method, "uri": uri, "status": status,
                         "cookie": u.cookie, "location": location, "user": user_hdr, "origin": rng.choice(ORIGINS)})

    def event(t, name, u, **extra):
        rec = {"ts": iso_ms(t), "event": name, "user_id": u.uid, "session_id": u.cookie, "ip": u.ip, "host": "app1"}
        rec.update(extra)
        events.append(rec)

    times = arrivals(rng, START, END, 0.45 * scale, peak_hour=19)
    # exactly SHARERS sign-ins during the fault, spread over it
    fault_logins = sorted(UPGRADE + timedelta(seconds=rng.uniform(30, (REVOKE - UPGRADE).total_seconds() - 60))
                          for _ in range(SHARERS))
    for t in times:
        while fault_logins and fault_logins[0] <= t:
            tl = fault_logins.pop(0)
            u = rng.choice([x for x in users if not x.logged_in and x.uid not in sharers])
            u.logged_in, u.cookie = True, shared_cookie
            sharers.append(u.uid)
            shared_writers.append(u.uid)
            req(tl, u, "POST", "/login", 302, location="/dashboard")
            event(tl, "login", u)
        u = pick_user(rng, users, cum)
        _, method, template, needs = rng.choices(ROUTES, weights=weights, k=1)[0]
        uri = template.format(n=rng.randint(1000, 99999))
        store_down = UPGRADE <= t < FIXED
        if needs and not u.logged_in:
            if REVOKE <= t < FIXED:
                req(t, u, "POST", "/login", 503)  # sign-in disabled
                event(t, "login_failed", u, reason="sign_in_disabled")
                continue
            if store_down:
                continue  # sign-ins in the fault window are the SHARERS above
            u.logged_in, u.cookie = True, cookies.make("php")
            req(t, u, "POST", "/login", 302, location="/dashboard")
            event(t, "login", u)
            t += timedelta(seconds=rng.uniform(0.5, 2))
        if u.logged_in and REVOKE <= t and u.uid not in invalidated and t < FIXED:
            # revoked at 22:00: each active session fails once, then the user is out
            invalidated.add(u.uid)
            req(t, u, method, uri, 302, location="/login?reason=session_expired")
            event(t, "session_invalid", u, reason="revoked")
            u.logged_in, u.cookie = False, None
            continue
        if u.logged_in and u.cookie != shared_cookie and store_down and not uri.startswith("/static"):
            if rng.random() < 0.9:
                req(t, u, method, uri, 302, location="/login?reason=session_expired")
                event(t, "session_expired", u)
                u.logged_in, u.cookie = False, None
                continue
        if u.logged_in and rng.random() < 0.0015 and not uri.startswith("/static"):
            req(t, u, method, uri, 302, location="/login?reason=session_expired")
            event(t, "session_expired", u)
            u.logged_in, u.cookie = False, None
            continue
        user_hdr = None
        if u.logged_in:
            # a shared session shows whoever wrote it last: another user's dashboard
            user_hdr = rng.choice(shared_writers) if u.cookie == shared_cookie else u.uid
        req(t, u, method, uri, 200 if rng.random() > 0.01 else 404, user_hdr=user_hdr)
        if u.logged_in and rng.random() < 0.01:
            event(t + timedelta(seconds=1), "logout", u)
            req(t + timedelta(seconds=1), u, "POST", "/logout", 302, location="/")
            u.logged_in, u.cookie = False, None

    requests.sort(key=lambda r: r["t"])
    events.sort(key=lambda e: e["ts"])
    logs = out / "logs"
    for day_index in range(3):
        day = START + timedelta(days=day_index)
        encoding = TS_ENCODINGS[day_index]
        with open_out(logs / "cloudflare" / f"http_requests_{day:%Y%m%d}.ndjson") as fh:
            for r in requests:
                if day <= r["t"] < day + timedelta(days=1):
                    fh.write(json.dumps(_cf_record(r, encoding, rng)) + "\n")
    write_jsonl(logs / "app-events.jsonl", events)
    markers = out / "markers"
    write_jsonl(markers / "changes.jsonl", [
        {"id": "config-apt-upgrade", "at": iso(UPGRADE), "kind": "session_store",
         "label": "unattended-upgrades: php8.1 session handler config replaced",
         "detail": "found afterwards in /var/log/unattended-upgrades"},
    ])
    write_json(markers / "honeycomb_markers.json", [
        {"id": "hc-301", "start_time": int(REVOKE.timestamp()), "type": "maintenance",
         "message": "Revoke all active sessions; disable sign-in", "url": ""},
        {"id": "hc-302", "start_time": int(FIXED.timestamp()), "end_time": int(FIXED.timestamp()) + 120,
         "type": "deploy", "message": "Session handler hardened; sign-in enabled", "url": ""},
    ])
    truth = {
        "incident": "geocaching-2022",
        "format": "cloudflare-http-requests + app-events",
        "window": {"start": iso(START), "end": iso(END)},
        "spike": {"onset_after": iso(UPGRADE - timedelta(minutes=1)), "onset_before": iso(UPGRADE + timedelta(minutes=8)),  # noqa: E501
                  "ends_after": iso(REVOKE), "ends_before": iso(FIXED + timedelta(minutes=30))},
        "cause": "config-apt-upgrade",
        "anomalies": [
            {"kind": "session_sharing", "start_after": iso(UPGRADE), "end_before": iso(REVOKE), "sessions": 1,
             "users": len(sharers), "user_ids": sharers, "explained_by": "config-apt-upgrade"},
            # The update wiped every valid session at once (each user hit once as they came back).
            # By the 22:00 revocation few valid sessions were left, so its burst is small and
            # runs into the first one.
            {"kind": "mass_invalidation", "at": iso(UPGRADE), "explained_by": "config-apt-upgrade"},
        ],
        "requests": len(requests),
        "events": len(events),
    }
    write_json(out / "ground_truth.json", truth)
    return truth


def _cf_record(r: dict, encoding: str, rng: random.Random) -> dict:
    rec = {
        "EdgeStartTimestamp": _edge_ts(r["t"], encoding),
        "ClientIP": r["ip"],
        "ClientRequestHost": "cachetur.example.no",
        "ClientRequestMethod": r["method"],
        "ClientRequestURI": r["uri"],
        "ClientRequestUserAgent": r["ua"],
        "EdgeResponseStatus": r["status"],
        "OriginResponseStatus": r["status"],
        "EdgeResponseBytes": rng.randint(500, 60000),
        "CacheCacheStatus": "hit" if r["uri"].startswith("/static") else "dynamic",
        "OriginIP": r["origin"],
        "RayID": f"{rng.getrandbits(64):016x}",
        "WorkerStatus": "unknown",
        "Cookies": {"PHPSESSID": r["cookie"]} if r["cookie"] else {},
        "RequestHeaders": {},
        "ResponseHeaders": {"x-app-version": "2022.06.2"},
    }
    if r["location"]:
        rec["ResponseHeaders"]["location"] = r["location"]
    if r["user"]:
        rec["ResponseHeaders"]["x-user-id"] = r["user"]
    return rec
