"""Building blocks of the sample incidents: users, traffic, cookies, writers.

The generator is seeded and plain Python: it is not on any hot path, and a
readable state machine per user is worth more here than speed.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc

BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:117.0) Gecko/20100101 Firefox/117.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",  # noqa: E501
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Mobile Safari/537.36",  # noqa: E501
]


def ts_local(t: datetime) -> str:
    """nginx $time_local in UTC."""
    return t.strftime("%d/%b/%Y:%H:%M:%S +0000")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def daily_profile(t: datetime, peak_hour: float = 15.0, depth: float = 0.75) -> float:
    """Relative traffic at a time of day: 1 at the peak, 1-depth at the trough."""
    hour = t.hour + t.minute / 60
    return 1 - depth * (1 - math.cos(2 * math.pi * (hour - peak_hour) / 24)) / 2


@dataclass
class User:
    """A user of the simulated site, with a browser and a session cookie."""

    uid: str
    ip: str
    ua: str
    weight: float
    cookie: str | None = None
    cookie_format: str = "none"
    logged_in: bool = False


class Cookies:
    """Makes session cookie values in each format the spec names."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def _b64(self, n: int, urlsafe: bool = False) -> str:
        raw = self.rng.randbytes(n)
        return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()

    def make(self, fmt: str) -> str:
        if fmt == "rails-signed-sha1":
            return f"{self._b64(48)}--{self.rng.randbytes(20).hex()}"
        if fmt == "rails-signed-sha256":
            return f"{self._b64(48)}--{self.rng.randbytes(32).hex()}"
        if fmt == "rails-encrypted-gcm":
            return f"{self._b64(60)}--{self._b64(12)}--{self._b64(16)}"
        if fmt == "rails-encrypted-cbc":
            return f"{self._b64(64)}--{self._b64(16)}"
        if fmt == "jwt":
            head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
            return f"{head}.{self._b64(40, True).rstrip('=')}.{self._b64(32, True).rstrip('=')}"
        if fmt == "php":
            alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
            return "".join(self.rng.choice(alphabet) for _ in range(26))
        return self._b64(24, True).rstrip("=")


def make_users(rng: random.Random, n: int, prefix: str = "u") -> list[User]:
    users = []
    for i in range(n):
        ip = f"{rng.choice([23, 31, 45, 62, 78, 81, 92, 109, 151, 176, 185, 203])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"  # noqa: E501
        users.append(User(uid=f"{prefix}{100000 + i}", ip=ip, ua=rng.choice(BROWSERS), weight=rng.paretovariate(1.3)))
    return users


def arrivals(rng: random.Random, start: datetime, end: datetime, per_second: float, peak_hour: float = 15.0):
    """Request times from a Poisson process with a daily rhythm, minute by minute."""
    t = start
    out: list[datetime] = []
    while t < end:
        lam = per_second * 60 * daily_profile(t, peak_hour)
        n = _poisson(rng, lam)
        out.extend(sorted(t + timedelta(seconds=rng.random() * 60) for _ in range(n)))
        t += timedelta(minutes=1)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def pick_user(rng: random.Random, users: list[User], cum_weights: list[float]) -> User:
    return rng.choices(users, cum_weights=cum_weights, k=1)[0]


def cumulative(users: list[User]) -> list[float]:
    total, out = 0.0, []
    for u in users:
        total += u.weight
        out.append(total)
    return out


# --- writers -------------------------------------------------------------------


def open_out(path: Path, compress: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        # mtime=0: the same seed writes the same bytes
        return io.TextIOWrapper(gzip.GzipFile(str(path) + ".gz", mode="wb", compresslevel=6, mtime=0), encoding="utf-8")
    return open(path, "w", encoding="utf-8")


def write_jsonl(path: Path, records: list[dict]) -> None:
    with open_out(path) as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(", ", ": ")) + "\n")


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def nginx_edge_line(r: dict) -> str:
    """One access-log line in the nginx-edge format (its template: formats/specs/nginx-edge.toml)."""

    def q(v):
        return "-" if v in (None, "") else str(v).replace('"', "\\x22")

    return (
        f'{r["ip"]} - - [{ts_local(r["ts"])}] "{r["method"]} {r["uri"]} HTTP/1.1" {r["status"]} {r["bytes"]} '
        f'"{q(r.get("referer"))}" "{q(r["ua"])}" {r["latency"]:.3f} {r["host"]} {r["version"]} '
        f'"{q(r.get("cookie"))}" "{q(r.get("edge"))}" "{q(r.get("cache"))}" "{q(r.get("user_hdr"))}" "{q(r.get("location"))}"'  # noqa: E501
    )
