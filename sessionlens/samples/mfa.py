"""The MFA rollout: cleared tokens, logout loops, one factor on every account.

At 09:30 all session tokens were cleared to prepare an MFA rollout: every
active session failed at once (a mass invalidation) and nobody could sign in
again. A first fix (10:40) broke page loads; the second (11:05) logged the
client out whenever the server rejected its token, and clients looped:
rejected -> logout -> login page -> failed login -> rejected. At 14:00 the
restart failed (no traffic until 14:20); at 14:25 the patch without the
logout logic restored sign-in. At 15:05 MFA enrolment was switched on, and
one person's enrolment attached their device to every account.

Logs: Rails production logs of three hosts (tagged with host and request id,
several worker processes interleaved) and structured app events.
Markers: Grafana annotations, sessionlens CSV, Honeycomb markers.
"""

from __future__ import annotations

import csv
import random
import uuid
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

DAY = datetime(2024, 3, 5, tzinfo=UTC)
START, END = DAY - timedelta(days=1), DAY + timedelta(days=1)


def at(hh: int, mm: int) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


CLEAR, BROKEN_FIX, LOOP_FIX, RESTART, RESTORED, PATCHED, MFA_ON = (
    at(9, 30), at(10, 40), at(11, 5), at(14, 0), at(14, 20), at(14, 25), at(15, 5))
HOSTS = ["app1", "app2", "app3"]
PIDS = {h: [4100 + 10 * i + k for k in range(3)] for i, h in enumerate(HOSTS)}
ROUTES = [
    (30, "GET", "/dashboard", "DashboardController#show"),
    (20, "GET", "/projects/{n}", "ProjectsController#show"),
    (15, "GET", "/api/me", "Api::MeController#show"),
    (10, "GET", "/tickets", "TicketsController#index"),
    (8, "POST", "/tickets", "TicketsController#create"),
    (7, "PATCH", "/tickets/{n}", "TicketsController#update"),
]


class RailsLog:
    """Collects Rails log lines of many requests; they interleave by time."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: dict[str, list[tuple[datetime, str]]] = {h: [] for h in HOSTS}

    def request(self, t, host, ip, method, path, controller, status, note=None, ms=None):
        rng = self.rng
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        pid = rng.choice(PIDS[host])
        ms = ms if ms is not None else round(rng.lognormvariate(3.2, 0.6), 1)
        reason = {200: "OK", 302: "Found", 401: "Unauthorized", 422: "Unprocessable Entity", 500: "Internal Server Error"}[status]  # noqa: E501

        def line(dt, sev, level, msg):
            stamp = (t + timedelta(milliseconds=dt)).strftime("%Y-%m-%dT%H:%M:%S.%f")
            return (t + timedelta(milliseconds=dt), f"{sev}, [{stamp} #{pid}] {level:>5} -- : [{host}] [{rid}] {msg}")

        out = [
            line(0, "I", "INFO", f'Started {method} "{path}" for {ip} at {t:%Y-%m-%d %H:%M:%S} +0000'),
            line(0.6, "I", "INFO", f"Processing by {controller} as HTML"),
        ]
        if note:
            out.append(line(ms / 2, "W", "WARN", note))
        out.append(line(ms, "I", "INFO", f"Completed {status} {reason} in {ms:.0f}ms (Views: {ms / 3:.1f}ms | ActiveRecord: {ms / 5:.1f}ms | Allocations: {rng.randint(900, 30000)})"))  # noqa: E501
        if status == 500:
            out.append(line(ms + 0.3, "F", "FATAL", "ActionView::Template::Error (undefined method `interceptors' for nil):"))  # noqa: E501
        self.lines[host].extend(out)


def generate(out: Path, seed: int = 7, scale: float = 1.0) -> dict:
    rng = random.Random(seed + 2)
    cookies = Cookies(rng)
    users = make_users(rng, max(300, int(2000 * scale)), prefix="m")
    for u in users:
        u.logged_in = rng.random() < 0.7
        u.cookie = cookies.make("rails-encrypted-gcm") if u.logged_in else None
    cum = cumulative(users)
    log = RailsLog(rng)
    events: list[dict] = []
    weights = [r[0] for r in ROUTES]
    loopers: dict[str, int] = {}
    invalidated: set[str] = set()

    def event(t, name, u, **extra):
        rec = {"ts": iso_ms(t), "event": name, "user_id": u.uid, "session_id": u.cookie, "ip": u.ip}
        rec.update(extra)
        events.append(rec)

    for t in arrivals(rng, START, END, 0.25 * scale, peak_hour=13):
        if RESTART <= t < RESTORED:
            continue  # the failed restart: nothing served
        u = pick_user(rng, users, cum)
        host = rng.choice(HOSTS)
        _, method, template, controller = rng.choices(ROUTES, weights=weights, k=1)[0]
        path = template.format(n=rng.randint(1, 5000))
        broken_logins = CLEAR <= t < PATCHED
        if u.logged_in and CLEAR <= t and u.uid not in invalidated and t < PATCHED:
            invalidated.add(u.uid)
            log.request(t, host, u.ip, method, path, controller, 401, note="Your session expired. Please sign in again to continue.")  # noqa: E501
            event(t, "session_invalid", u, reason="token_cleared")
            u.logged_in, u.cookie = False, None
            if LOOP_FIX <= t < RESTART and rng.random() < 0.35:
                _loop(rng, log, event, u, t, host, loopers)
            continue
        if not u.logged_in:
            if broken_logins:
                log.request(t, host, u.ip, "POST", "/users/sign_in", "Devise::SessionsController#create", 401)
                event(t, "login_failed", u, reason="token_store_corrupt")
                if LOOP_FIX <= t < RESTART and rng.random() < 0.2:
                    _loop(rng, log, event, u, t + timedelta(seconds=2), host, loopers)
                continue
            u.logged_in, u.cookie = True, cookies.make("rails-encrypted-gcm")
            log.request(t, host, u.ip, "POST", "/users/sign_in", "Devise::SessionsController#create", 302)
            event(t, "login", u)
            t += timedelta(seconds=rng.uniform(0.5, 2))
        if BROKEN_FIX <= t < LOOP_FIX and rng.random() < 0.6:
            log.request(t, host, u.ip, method, path, controller, 500)
            continue
        if rng.random() < 0.0012:
            log.request(t, host, u.ip, method, path, controller, 401, note="Your session expired. Please sign in again to continue.")  # noqa: E501
            event(t, "session_expired", u)
            u.logged_in, u.cookie = False, None
            continue
        log.request(t, host, u.ip, method, path, controller, 200)
        if rng.random() < 0.008:
            log.request(t + timedelta(seconds=3), host, u.ip, "DELETE", "/users/sign_out", "Devise::SessionsController#destroy", 302)  # noqa: E501
            event(t + timedelta(seconds=3), "logout", u)
            u.logged_in, u.cookie = False, None

    # MFA: a few staff enrol their own devices, then one enrolment lands on every account.
    staff = users[:12]
    for i, s in enumerate(staff):
        event(MFA_ON + timedelta(minutes=2 + i), "mfa_enroll", s, device_id=f"totp-{rng.getrandbits(48):012x}")
    bad_device = f"totp-{rng.getrandbits(48):012x}"
    culprit = staff[3]
    t0 = MFA_ON + timedelta(minutes=21)
    event(t0, "mfa_enroll", culprit, device_id=bad_device)
    for i, u in enumerate(users):
        if u is not culprit:
            event(t0 + timedelta(milliseconds=40 * (i + 1)), "mfa_enroll", u, device_id=bad_device, actor=culprit.uid)

    logs = out / "logs"
    for host in HOSTS:
        with open_out(logs / host / "production.log") as fh:
            for _, line in sorted(log.lines[host], key=lambda x: x[0]):
                fh.write(line + "\n")
    events.sort(key=lambda e: e["ts"])
    write_jsonl(logs / "events.jsonl", events)
    _write_markers(out / "markers")
    truth = {
        "incident": "mfa-rollout-2024",
        "format": "rails + app-events",
        "window": {"start": iso(START), "end": iso(END)},
        "spike": {"onset_after": iso(CLEAR - timedelta(minutes=1)), "onset_before": iso(CLEAR + timedelta(minutes=6)),
                  "ends_after": iso(PATCHED - timedelta(minutes=30)), "ends_before": iso(PATCHED + timedelta(minutes=40))},  # noqa: E501
        "cause": "maint-clear-tokens",
        "anomalies": [
            {"kind": "mass_invalidation", "at": iso(CLEAR), "explained_by": "maint-clear-tokens"},
            {"kind": "logout_loop", "start_after": iso(LOOP_FIX), "end_before": iso(RESTART), "clients": len(loopers),
             "max_cycles": max(loopers.values()) if loopers else 0, "explained_by": "grafana-2209"},
            {"kind": "cross_account_enrollment", "device": bad_device, "users": len(users),
             "explained_by": "flag-mfa-enrollment"},
        ],
        "events": len(events),
    }
    write_json(out / "ground_truth.json", truth)
    return truth


def _loop(rng, log, event, u, t, host, loopers):
    """A client stuck in the logout loop: rejected -> logout -> login -> rejected."""
    cycles = rng.randint(12, 60)
    loopers[u.uid] = cycles
    for _ in range(cycles):
        log.request(t, host, u.ip, "GET", "/api/me", "Api::MeController#show", 401)
        t += timedelta(seconds=rng.uniform(0.3, 1.2))
        log.request(t, host, u.ip, "DELETE", "/users/sign_out", "Devise::SessionsController#destroy", 302)
        event(t, "logout", u, reason="client_token_rejected")
        t += timedelta(seconds=rng.uniform(0.3, 1.0))
        log.request(t, host, u.ip, "GET", "/users/sign_in", "Devise::SessionsController#new", 200)
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        log.request(t, host, u.ip, "POST", "/users/sign_in", "Devise::SessionsController#create", 401)
        event(t, "login_failed", u, reason="token_store_corrupt")
        t += timedelta(seconds=rng.uniform(0.5, 2.5))
        if t >= RESTART:
            break


def _write_markers(markers: Path) -> None:
    write_json(markers / "grafana_annotations.json", [
        {"id": 2208, "time": int(BROKEN_FIX.timestamp() * 1000), "timeEnd": int(BROKEN_FIX.timestamp() * 1000),
         "tags": ["deploy", "frontend"], "text": "deploy-2208: axios interceptor clears invalid session tokens"},
        {"id": 2209, "time": int(LOOP_FIX.timestamp() * 1000), "timeEnd": int(LOOP_FIX.timestamp() * 1000),
         "tags": ["deploy", "frontend"], "text": "deploy-2209: missing reference fixed; client logout when token rejected"},  # noqa: E501
        {"id": 2210, "time": int(PATCHED.timestamp() * 1000), "timeEnd": int(PATCHED.timestamp() * 1000),
         "tags": ["deploy"], "text": "deploy-2210: logout logic removed, session patch redeployed"},
    ])
    markers.mkdir(parents=True, exist_ok=True)
    with open(markers / "maintenance.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "at", "end", "kind", "label", "scope", "detail"])
        w.writerow(["maint-clear-tokens", iso(CLEAR), "", "maintenance", "Clear all session tokens before MFA rollout", "", ""])  # noqa: E501
        w.writerow(["maint-restart", iso(RESTART), iso(RESTORED), "maintenance", "Scheduled 2 PM server restart", "", "restart failed"])  # noqa: E501
    write_json(markers / "honeycomb_markers.json", [
        {"id": "flag-mfa-enrollment", "start_time": int(MFA_ON.timestamp()), "type": "feature_flag",
         "message": "MFA enrolment enabled for staff accounts", "url": ""},
    ])
