"""The fan-fiction archive, 19 Sep 2023: a rolling deploy changed session cookies.

v1.41.0 rewrote session cookies (signed SHA1 -> encrypted GCM) host by host.
Hosts still on v1.40.2 cannot read the new cookies, so users bouncing between
hosts behind the load balancer see "session expired"; new hosts reject some
old cookies too. The edge worker cannot read encrypted cookies either and
bypasses its session repair for them. Cache and worker toggles are responses
(the worker toggles hurt: it was helping); a manual rollback left web04 on
v1.41.0 and users holding new cookies, so errors remained; the clean deploy
of v1.41.1 without the cookie change ended it.

Logs: one nginx access log per host (two gzipped), in the nginx-edge format.
Markers: sessionlens JSON lines and CSV, Cloudflare audit logs (v2), Grafana
annotations.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

from .core import (
    UTC,
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

DAY = datetime(2023, 9, 19, tzinfo=UTC)
START, END = DAY - timedelta(days=2), DAY + timedelta(days=1)
HOSTS = [f"web0{i}" for i in range(1, 9)]
OLD, NEW, FIXED = "v1.40.2", "v1.41.0", "v1.41.1"


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


DEPLOY_START = at(16, 9)
ROLLBACK = at(16, 52)
REDEPLOY = at(19, 0)
CACHE_OFF, CACHE_ON = at(16, 40), at(17, 20)
WORKER_OFF = [(at(16, 45), at(17, 35)), (at(17, 44), at(18, 19))]
WORKER_V2 = at(18, 28)
REMNANT_HOST = "web04"


def host_version(host: str, t: datetime) -> str:
    i = HOSTS.index(host)
    if t >= REDEPLOY + timedelta(minutes=2 * i):
        return FIXED
    if t >= ROLLBACK and host != REMNANT_HOST:
        return OLD
    if t >= DEPLOY_START + timedelta(minutes=3 * i):
        return NEW
    return OLD


def worker_on(t: datetime) -> bool:
    return not any(a <= t < b for a, b in WORKER_OFF)


ROUTES = [
    # (weight, method, template, needs session)
    (38, "GET", "/works/{n}", False),
    (18, "GET", "/works/{n}/chapters/{m}", False),
    (9, "GET", "/tags/{tag}/works", False),
    (5, "GET", "/", False),
    (8, "GET", "/assets/{asset}", False),
    (6, "GET", "/users/{uid}/subscriptions", True),
    (6, "GET", "/bookmarks", True),
    (6, "POST", "/works/{n}/kudos", True),
    (2, "POST", "/comments", True),
    (2, "POST", "/bookmarks", True),
]
TAGS = ["Harry_Potter", "Star_Wars", "Sherlock", "Original_Work", "Good_Omens", "Marvel"]
ASSETS = ["application.css", "application.js", "logo.svg", "fonts/noto.woff2"]


def generate(out: Path, seed: int = 7, scale: float = 1.0, clean: bool = False) -> dict:
    """Writes the incident's logs, markers and ground truth under ``out``.

    ``clean``: the same rollout, traffic and cookie change, but every host reads every
    cookie format (the release that should have shipped): session errors stay at their
    background rate throughout. For the gate's tests and benchmark (a clean rollout of the
    same size); the default output is unchanged byte for byte.
    """
    rng = random.Random(seed)
    cookies = Cookies(rng)
    users = make_users(rng, max(200, int(4000 * scale)))
    for u in users:
        if rng.random() < 0.6:
            u.logged_in, u.cookie_format = True, "rails-signed-sha1"
            u.cookie = cookies.make(u.cookie_format)
    cum = cumulative(users)
    weights = [r[0] for r in ROUTES]
    records: list[dict] = []
    errors_by_segment: dict[tuple[str, str], int] = {}

    def emit(t, u, method, uri, status, host, version, edge, cache, referer=None, nbytes=None, location=None):
        records.append(
            {
                "ts": t, "ip": u.ip, "ua": u.ua, "method": method, "uri": uri, "status": status,
                "bytes": nbytes if nbytes is not None else rng.randint(800, 40000),
                "referer": referer, "latency": rng.lognormvariate(-2.6, 0.6), "host": host,
                "version": version, "cookie": u.cookie, "edge": edge, "cache": cache,
                "user_hdr": u.uid if u.logged_in and status < 400 else None, "location": location,
            }
        )

    def cookie_format_for(version: str) -> str:
        return "rails-encrypted-gcm" if version == NEW else "rails-signed-sha1"

    for t in arrivals(rng, START, END, 0.8 * scale, peak_hour=16):
        u = pick_user(rng, users, cum)
        host = rng.choice(HOSTS)
        version = host_version(host, t)
        _, method, template, needs_session = rng.choices(ROUTES, weights=weights, k=1)[0]
        if needs_session and not u.logged_in:
            # an anonymous visitor signs in first
            emit(t, u, "POST", "/users/login", 302, host, version, "on" if worker_on(t) else "off", "dynamic")
            u.logged_in, u.cookie_format = True, cookie_format_for(version)
            u.cookie = cookies.make(u.cookie_format)
            t += timedelta(seconds=rng.uniform(0.5, 3))
        uri = template.format(n=rng.randint(1, 48000), m=rng.randint(1, 60), tag=rng.choice(TAGS),
                              asset=rng.choice(ASSETS), uid=u.uid)
        static = uri.startswith("/assets/")
        unreadable_at_edge = u.cookie_format == "rails-encrypted-gcm"
        if not worker_on(t):
            edge = "off"
        else:
            edge = "bypass" if unreadable_at_edge else "on"
        if CACHE_OFF <= t < CACHE_ON:
            cache = "bypass"
        elif static:
            cache = "hit"
        elif u.logged_in or method != "GET":
            cache = "dynamic"
        else:
            cache = rng.choice(["hit", "hit", "miss", "expired"])

        # Can the serving host read this user's session?
        p_err = 0.0012 if u.logged_in else 0.0
        if u.logged_in and not static and not clean:
            if u.cookie_format == "rails-encrypted-gcm" and version == OLD:
                if edge == "off":
                    p_err = 0.9
                elif t >= WORKER_V2:
                    p_err = 0.3  # worker v2 repairs reads and writes
                else:
                    p_err = 0.4 if method == "GET" else 0.85  # v1 repairs reads only
            elif u.cookie_format == "rails-signed-sha1" and version == NEW:
                p_err = 0.45  # SHA1 -> SHA256 digest change
        if u.logged_in and not static and rng.random() < p_err:
            key = (u.cookie_format, version)
            errors_by_segment[key] = errors_by_segment.get(key, 0) + 1
            if method == "POST":
                emit(t, u, method, uri, 422, host, version, edge, cache, referer=f"https://archive.example.org{uri}")
            else:
                # the host that could not read the session redirects to the login page
                emit(t, u, method, uri, 302, host, version, edge, cache, nbytes=0,
                     location=f"/users/login?reason=expired&return_to={uri.replace('/', '%2F')}")
            # the user signs in again and gets the serving host's cookie
            u.logged_in = False
            u.cookie, u.cookie_format = None, "none"
            if rng.random() < 0.8:
                t3 = t + timedelta(seconds=rng.uniform(5, 40))
                host3 = rng.choice(HOSTS)
                v3 = host_version(host3, t3)
                u.logged_in, u.cookie_format = True, cookie_format_for(v3)
                u.cookie = cookies.make(u.cookie_format)
                emit(t3, u, "POST", "/users/login", 302, host3, v3, edge, "dynamic")
            continue
        status = 200 if rng.random() > 0.01 else 404
        if 16 * 60 + 52 <= t.hour * 60 + t.minute < 16 * 60 + 55 and t.date() == DAY.date() and rng.random() < 0.3:
            status = 502  # the manual rollback's short downtimes
        emit(t, u, method, uri, status, host, version, edge, cache)
        # a response from a host sets that host's cookie format
        if u.logged_in and status < 400 and not static:
            fmt = cookie_format_for(version)
            if fmt != u.cookie_format:
                u.cookie_format, u.cookie = fmt, cookies.make(fmt)

    records.sort(key=lambda r: r["ts"])
    logs = out / "logs"
    for host in HOSTS:
        with open_out(logs / f"{host}.access.log", compress=host in ("web07", "web08")) as fh:
            for r in records:
                if r["host"] == host:
                    fh.write(nginx_edge_line(r) + "\n")
    _write_markers(out / "markers")
    truth = {
        "incident": "archive-2023",
        "format": "nginx-edge",
        "window": {"start": iso(START), "end": iso(END)},
        "spike": {"onset_after": iso(DEPLOY_START), "onset_before": iso(DEPLOY_START + timedelta(minutes=6)),
                  "ends_after": iso(REDEPLOY), "ends_before": iso(REDEPLOY + timedelta(minutes=40))},
        "cause": "deploy-1041",
        # effects the model makes clear; the worker toggles during the rollout matter
        # little (most errors then are old cookies on new hosts), so they are not pinned
        "responses": {"cf-audit-2001": "none", "cf-audit-2003": "none", "deploy-1043": "helped"},
        "segments": [{"cookie_format": "rails-encrypted-gcm", "app_version": OLD}],
        "errors_by_segment": {f"{k[0]}|{k[1]}": v for k, v in sorted(errors_by_segment.items())},
        "requests": len(records),
        "anomalies": [],
    }
    write_json(out / "ground_truth.json", truth)
    return truth


def _write_markers(markers: Path) -> None:
    write_jsonl(
        markers / "deploys.jsonl",
        [
            {"id": "deploy-1041", "at": iso(DEPLOY_START), "end": iso(DEPLOY_START + timedelta(minutes=22)),
             "kind": "deploy", "label": f"Archive {NEW} (Rails 7 cookie changes)", "scope": {"hosts": HOSTS},
             "detail": "rolling deploy, 3 min per host; session cookies move to encrypted GCM, digest SHA1 -> SHA256"},
            {"id": "deploy-1043", "at": iso(REDEPLOY), "end": iso(REDEPLOY + timedelta(minutes=15)), "kind": "deploy",
             "label": f"Archive {FIXED} (cookie changes reverted)", "scope": {"hosts": HOSTS}},
        ],
    )
    markers.mkdir(parents=True, exist_ok=True)
    with open(markers / "rollback.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "at", "end", "kind", "label", "scope", "detail"])
        w.writerow(["rollback-1042", iso(ROLLBACK), iso(ROLLBACK + timedelta(minutes=3)), "rollback",
                    f"Manual rollback to {OLD}", '{"hosts": ["web01","web02","web03","web05","web06","web07","web08"]}',
                    "done by hand outside the deploy tool"])
    toggles = [
        ("cf-audit-2001", CACHE_OFF, "cache", "Development mode on (cache bypassed)"),
        ("cf-audit-2002", WORKER_OFF[0][0], "edge_worker", "Worker route archive-session-repair disabled"),
        ("cf-audit-2003", CACHE_ON, "cache", "Development mode off (cache on)"),
        ("cf-audit-2004", WORKER_OFF[0][1], "edge_worker", "Worker route archive-session-repair enabled"),
        ("cf-audit-2005", WORKER_OFF[1][0], "edge_worker", "Worker route archive-session-repair disabled (test)"),
        ("cf-audit-2006", WORKER_OFF[1][1], "edge_worker", "Worker route archive-session-repair enabled"),
    ]
    write_json(
        markers / "cloudflare_audit.json",
        {
            "success": True, "errors": [],
            "result": [
                {"id": cid,
                 "action": {"description": label, "result": "success", "time": iso(t), "type": "update"},
                 "actor": {"email": "sysadmin@archive.example.org", "type": "user"},
                 "resource": {"product": "workers" if kind == "edge_worker" else "cache", "type": kind},
                 "zone": {"name": "archive.example.org"}}
                for cid, t, kind, label in toggles
            ],
        },
    )
    write_json(
        markers / "grafana_annotations.json",
        [{"id": 88, "time": int(WORKER_V2.timestamp() * 1000), "timeEnd": int(WORKER_V2.timestamp() * 1000),
          "tags": ["edge_worker", "deploy"], "text": "Worker script v2: also repairs form submissions"}],
    )
