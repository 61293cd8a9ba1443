"""Trap scenarios for causes that act late or gradually, and for responses.

Like :mod:`sessionlens.samples.traps`: each writes nginx-edge access logs,
sessionlens markers and returns what a correct analysis says (``spikes``,
``explained_by``, ``roles`` and ``effects`` by change id). The errors are a
model of what each change does, so the ground truth follows from it:

* a config change that halves the rate (helped), one that doubles it (hurt);
* changes made after the spike's end, within the effect window (each still
  assessed, with no effect);
* a percentage rollout over three markers whose errors follow the share of
  clients exposed (the cause is the rollout, named by its first step);
* a secret rotation whose grace period ends an hour later, with an
  unrelated canary on one host five minutes before the errors (spread over
  every host): the rotation is the cause, the canary is ruled out;
* a spike that fades on its own, with a change made as it fades (no effect).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from .core import iso, write_jsonl
from .traps import BASE_ERROR, _at, _marker, simulate


def _bucket_of(client: str) -> int:
    """A client's place (0..99) in a percentage rollout: the same in every process."""
    return zlib.crc32(client.encode()) % 100


def response_halves(out: Path, seed: int = 21, scale: float = 1.0) -> dict:
    """A session-store failover at 13:59 sends the rate to 13 %; a pool-size fix at 14:30
    halves it (6.9 %); the failback at 15:00 ends it."""

    def err(t, h, c):
        if _at(1, 14) <= t < _at(1, 14, 31):
            return 0.13
        if _at(1, 14, 31) <= t < _at(1, 15, 1):
            return 0.069
        return BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("store-failover", _at(1, 13, 59), "session_store", "Redis session store failover to replica"),
        _marker("config-pool", _at(1, 14, 30), "config", "Session store connection pool 20 -> 80"),
        _marker("store-failback", _at(1, 15), "session_store", "Failback to the primary session store"),
    ])
    return {"spikes": 1, "explained_by": "store-failover",
            "onset_after": iso(_at(1, 13, 55)), "onset_before": iso(_at(1, 14, 3)),
            "roles": {"store-failover": "cause", "config-pool": "response", "store-failback": "response"},
            "effects": {"config-pool": "helped", "store-failback": "helped"}}


def response_hurts(out: Path, seed: int = 22, scale: float = 1.0) -> dict:
    """A deploy at 13:59 brings 4 % errors; turning the edge worker off at 14:25 doubles
    them (it was repairing sessions); turning it back on at 14:50 halves them again; the
    rollback at 15:15 ends it."""

    def err(t, h, c):
        if _at(1, 14, 26) <= t < _at(1, 14, 51):
            return 0.08
        if _at(1, 14) <= t < _at(1, 15, 16):
            return 0.04
        return BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-310", _at(1, 13, 59), "deploy", "v3.1.0 session middleware"),
        _marker("worker-off", _at(1, 14, 25), "edge_worker", "Session repair worker disabled"),
        _marker("worker-on", _at(1, 14, 50), "edge_worker", "Session repair worker enabled"),
        _marker("rollback-310", _at(1, 15, 15), "rollback", "Roll back to v3.0.9"),
    ])
    return {"spikes": 1, "explained_by": "deploy-310",
            "roles": {"worker-off": "response", "worker-on": "response", "rollback-310": "response"},
            "effects": {"worker-off": "hurt", "worker-on": "helped", "rollback-310": "helped"}}


def responses_after_end(out: Path, seed: int = 23, scale: float = 1.0) -> dict:
    """A deploy at 13:59 brings 8 % errors; the rollback at 15:00 ends them; a cache purge
    at 15:06 and a logout-call removal at 15:12 come after the end: responses with no effect."""

    def err(t, h, c):
        return 0.08 if _at(1, 14) <= t < _at(1, 15, 1) else BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-77", _at(1, 13, 59), "deploy", "v7.7.0"),
        _marker("rollback-77", _at(1, 15), "rollback", "Roll back to v7.6.2"),
        _marker("cache-purge", _at(1, 15, 6), "cache", "Purge everything"),
        _marker("config-logout", _at(1, 15, 12), "config", "Remove the logout call from the SPA boot"),
    ])
    return {"spikes": 1, "explained_by": "deploy-77",
            "roles": {"rollback-77": "response", "cache-purge": "response", "config-logout": "response"},
            "effects": {"rollback-77": "helped", "cache-purge": "none", "config-logout": "none"}}


def percent_rollout(out: Path, seed: int = 24, scale: float = 1.0) -> dict:
    """A flag rolled out to 10 % at 14:00, 50 % at 14:30, 100 % at 15:00: exposed clients get
    15 % errors, so the rate follows the rollout; turned off at 15:40. An unrelated config
    change 40 minutes before the first step is a distractor."""
    steps = [(_at(1, 14), 10), (_at(1, 14, 30), 50), (_at(1, 15), 100)]
    off = _at(1, 15, 40)

    def err(t, h, c):
        if t >= off:
            return BASE_ERROR
        share = max((p for at, p in steps if t >= at), default=0)
        return 0.15 if _bucket_of(c) < share else BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("config-cdn", _at(1, 13, 20), "config", "CDN compression level 6"),
        *[_marker(f"flag-sso-{p}", at, "feature_flag", f"new SSO session handler at {p}%", flag="sso-v2", percent=p)
          for at, p in steps],
        _marker("flag-sso-off", off, "feature_flag", "new SSO session handler off", flag="sso-v2", percent=0),
    ])
    return {"spikes": 1, "explained_by": "flag-sso-10",
            "onset_after": iso(_at(1, 13, 57)), "onset_before": iso(_at(1, 14, 5)),
            "roles": {"flag-sso-10": "cause", "flag-sso-50": "response", "flag-sso-100": "response",
                      "flag-sso-off": "response"},
            "effects": {"flag-sso-50": "hurt", "flag-sso-100": "hurt", "flag-sso-off": "helped"}}


def secret_rotation_grace(out: Path, seed: int = 25, scale: float = 1.0) -> dict:
    """The session signing secret is rotated at 13:00 with a one-hour grace period for the
    old one; a canary deploy on web03 lands at 13:55; from 14:00 sessions signed with the
    old secret fail on every host (6 %) until the old secret is restored at 15:00."""

    def err(t, h, c):
        return 0.06 if _at(1, 14) <= t < _at(1, 15, 1) else BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("secret-rotation", _at(1, 13), "config", "Rotate session signing secret",
                grace_period="1h", secret="SESSION_SECRET"),
        _marker("canary-web03", _at(1, 13, 55), "deploy", "v4.2.0 canary", hosts=["web03"]),
        _marker("secret-restore", _at(1, 15), "config", "Re-add the old signing secret"),
    ])
    return {"spikes": 1, "explained_by": "secret-rotation",
            "onset_after": iso(_at(1, 13, 57)), "onset_before": iso(_at(1, 14, 3)),
            "roles": {"canary-web03": ["unrelated", "cause"], "secret-restore": "response"},
            "vetoed": ["canary-web03"],
            "effects": {"secret-restore": "helped"}}


def natural_end(out: Path, seed: int = 26, scale: float = 1.0) -> dict:
    """A deploy at 13:59 brings 10 % errors; from 14:30 the rate fades on its own (the bad
    sessions expire) and is back to normal by 15:00. A config change at 14:10, on the plateau,
    does nothing; a cache purge at 14:52, as the spike fades, did not end it."""

    def err(t, h, c):
        if _at(1, 14) <= t < _at(1, 14, 30):
            return 0.10
        if _at(1, 14, 30) <= t < _at(1, 15):
            return BASE_ERROR + (0.10 - BASE_ERROR) * (_at(1, 15) - t).total_seconds() / 1800
        return BASE_ERROR

    simulate(out, seed, 2, 1.0 * scale, lambda t: 1.0, err)
    write_jsonl(out / "markers" / "changes.jsonl", [
        _marker("deploy-88", _at(1, 13, 59), "deploy", "v8.8.0 session cookie SameSite=Strict"),
        _marker("config-log", _at(1, 14, 10), "config", "Debug logging on for the session middleware"),
        _marker("cache-purge", _at(1, 14, 52), "cache", "Purge everything"),
    ])
    return {"spikes": 1, "explained_by": "deploy-88",
            "roles": {"config-log": "response", "cache-purge": "response"},
            "effects": {"config-log": "none", "cache-purge": "none"}}


CAUSE_TRAPS = {f.__name__: f for f in (response_halves, response_hurts, responses_after_end, percent_rollout,
                                       secret_rotation_grace, natural_end)}
