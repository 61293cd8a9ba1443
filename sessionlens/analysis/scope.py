"""What a change's scope says: the traffic it reached, when it takes effect, and rollout steps.

A scope is free text written by people (markers) or by inference: every
reader here is lenient, and a value it cannot read names nothing.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from ..changes.model import Change, parse_time
from .suspects import AttributeSettings


def exposure(change: Change, linked: list[Change]) -> list[tuple[str, list[str]]]:
    """The (dimension, values) a change's scope or its linked inferred changes name."""
    out: list[tuple[str, list[str]]] = []
    scope = scope_of(change)
    for inf in linked:
        for k, v in scope_of(inf).items():
            scope.setdefault(k, v)
    for key, dim in (("cookie_format", "cookie_format"), ("version", "app_version"), ("edge_worker", "edge_worker"),
                     ("hosts", "host")):
        values = scope_values(scope.get(key))
        if values:
            out.append((dim, values))
    return out


def scope_of(change: Change) -> dict[str, Any]:
    # a scope that is not an object (a lake written before markers were checked) names nothing
    return dict(change.scope) if isinstance(change.scope, dict) else {}


def scope_values(value: Any) -> list[str]:
    """A scope value as the texts to match: a string or number, or a list of them; anything else is skipped."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [str(x) for x in items if isinstance(x, (str, int, float)) and not isinstance(x, bool) and str(x)]


DELAY_KEYS = ("grace_period", "grace", "delay", "ttl", "effective_after", "takes_effect_after", "session_ttl",
              "cookie_ttl")
_UNIT_SECONDS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60,
                 "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
                 "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(" + "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True)) + r")(?![a-z])")
_ISO_DURATION = re.compile(r"P(?:(\d+(?:\.\d+)?)D)?"
                           r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
                           re.IGNORECASE)


def parse_duration(value) -> timedelta | None:
    """A duration from a scope: seconds (``3600``), ``1h``, ``60m``, ``1h30m``, ``2 hours``, ISO 8601 ``PT1H``.

    Returns None for anything else (never raises: a scope is free text).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value)) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    iso = _ISO_DURATION.fullmatch(text)
    if iso and text not in ("p", "pt") and any(iso.groups()):
        d, h, m, s = (float(x) if x else 0.0 for x in iso.groups())
        return timedelta(days=d, hours=h, minutes=m, seconds=s)
    rest = _PART.sub("", text).strip(" ,+and")
    parts = _PART.findall(text)
    if parts and not rest:
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    return None


def delay_of(change: Change, settings: AttributeSettings) -> tuple[timedelta, str] | None:
    """When a change takes effect after it was made, from its scope, with the words saying why.

    ``effective_at`` (a time) wins over durations; among durations
    (:data:`DELAY_KEYS`) the first readable one counts.
    """
    scope = scope_of(change)
    if "effective_at" in scope:
        try:
            when = parse_time(scope["effective_at"])
        except (ValueError, TypeError, OverflowError):
            when = None
        if when is not None and timedelta(0) < when - change.at <= settings.max_delay:
            return when - change.at, f"effective_at {scope['effective_at']}"
    for key in DELAY_KEYS:
        if key in scope:
            d = parse_duration(scope[key])
            if d is not None and timedelta(0) < d <= settings.max_delay:
                return d, f"{key} {scope[key]}"
    return None


def percent_of(change: Change) -> float | None:
    """The share of traffic a rollout step reached (``scope.percent``: 10, "10", "10%"), or None."""
    scope = scope_of(change)
    for key in ("percent", "percentage", "rollout_percent", "pct"):
        value = scope.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            p = float(str(value).strip().rstrip("%").strip()) if isinstance(value, str) else float(value)
        except (ValueError, TypeError):
            continue
        if math.isfinite(p) and 0 <= p <= 100:
            return p
    return None


def _series_key(change: Change) -> tuple[str, str]:
    """What ties the steps of one rollout: a named flag/series in the scope, else the label without numbers."""
    scope = scope_of(change)
    for key in ("series", "rollout", "flag", "feature", "feature_flag", "experiment"):
        if isinstance(scope.get(key), (str, int, float)) and not isinstance(scope.get(key), bool):
            return change.kind, f"{key}={scope[key]}"
    label = re.sub(r"\d+(?:\.\d+)?\s*%|\b\d+(?:\.\d+)?\b|percent|\bto\b|\bat\b", " ", change.label.lower())
    return change.kind, " ".join(re.findall(r"[a-z][a-z0-9_.-]*", label))


def rollouts(changes: list[Change]) -> dict[str, list[Change]]:
    """Percentage rollouts: changes of one series with ``scope.percent``, by the id of their first step.

    Two or more steps of the same kind and series (scope ``series``/``flag``/
    ``feature``..., else the label without its numbers) whose percentages
    never fall form one rollout; each is listed oldest first.
    """
    groups: dict[tuple[str, str], list[tuple[float, Change]]] = {}
    for c in sorted(changes, key=lambda c: c.at):
        percent = percent_of(c)
        if percent is not None:
            groups.setdefault(_series_key(c), []).append((percent, c))
    out: dict[str, list[Change]] = {}
    for steps in groups.values():
        run: list[tuple[float, Change]] = []
        for step in [*steps, None]:
            # a lower percentage starts a new rollout (a rollback to 0 % is a response, not a step)
            if step is None or (run and step[0] < run[-1][0]):
                if len(run) >= 2:
                    out[run[0][1].id] = [c for _, c in run]
                run = []
            if step is not None:
                run.append(step)
    return out
