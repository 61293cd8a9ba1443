"""How numbers are written, one way everywhere: shares, p-values and multiples."""

from __future__ import annotations

import math


def pct(x: float) -> str:
    """A rate or share as a percentage with the digits its size needs: 14%, 0.11%, 0.004%."""
    if x >= 0.1:
        return f"{x:.0%}"
    if x >= 0.001:
        return f"{x:.2%}".replace(".00%", "%")
    return f"{x:.3%}"


def p_text(p: float) -> str:
    """A p-value as evidence text: ``p < 1e-12``, ``p < 1e-5``, ``p = 0.004``."""
    if p < 1e-12:
        return "p < 1e-12"
    exponent = math.floor(math.log10(max(p, 1e-300)))
    return f"p < 1e{exponent + 1}" if p < 0.001 else f"p = {p:.3f}"


def multiple(rate: float, reference: float) -> float:
    """How many times ``reference`` a rate is: the one definition of every "Nx" shown."""
    if reference > 0:
        return rate / reference
    return math.inf if rate > 0 else 1.0


def times(rate: float, reference: float) -> str:
    """``multiple`` as text: ``8x``, ``1.6x``, or ``from none`` when the reference is zero."""
    m = multiple(rate, reference)
    if m == math.inf:
        return "from none"
    return f"{m:.1f}x" if m < 10 else f"{m:.0f}x"


def duration(seconds: float) -> str:
    """A length of time as a reader says it: ``40 s``, ``30 min``, ``1 h 30 min``, ``2 days``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" + (f" {rest} min" if rest else "")
    return f"{seconds / 86400:.0f} days"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def anomaly_size(a: dict) -> str:
    """An anomaly's size with its unit and period: ``412 clients, up to 57 logout/login cycles per client within 10 min``.

    Reads the fields the anomaly dicts carry (``sessions``, ``users``,
    ``clients``, ``max_cycles``, ``period_seconds``); the period is
    ``period_seconds`` when the detector gives it (its counting window), else
    the anomaly's own span from ``start`` to ``end``.
    """
    from datetime import datetime

    def when(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

    period = a.get("period_seconds")
    if period:
        within = f"within {duration(period)}"
    else:
        start, end = when(a.get("start")), when(a.get("end"))
        within = f"over {duration((end - start).total_seconds())}" if start and end and end > start else ""
    kind = a.get("kind")
    parts: list[str] = []
    if kind == "logout_loop":
        if a.get("clients") is not None:
            parts.append(_plural(a["clients"], "client") + " looping")
        if a.get("max_cycles") is not None:
            parts.append(f"up to {_plural(a['max_cycles'], 'logout/login cycle')} per client")
    elif kind == "session_sharing":
        sessions = _plural(a.get("sessions") or 1, "session")
        if a.get("users"):
            parts.append(f"{sessions} used by {_plural(a['users'], 'distinct user')}")
        elif a.get("clients"):
            parts.append(f"{sessions} used from up to {_plural(a['clients'], 'client address', 'client addresses')} at once")
        else:
            parts.append(sessions)
    elif kind == "mass_invalidation":
        if a.get("users") is not None:
            parts.append(f"{_plural(a['users'], 'user')} hit by session errors")
    elif kind == "cross_account_enrollment":
        if a.get("users") is not None:
            parts.append(f"one device on {_plural(a['users'], 'account')}")
    else:  # a kind this text does not know yet: its counts, named
        parts += [f"{k.replace('_', ' ')} {a[k]:,}" for k in ("sessions", "users", "clients", "max_cycles")
                  if isinstance(a.get(k), int)]
    text = ", ".join(parts)
    return f"{text} {within}".strip() if text else within
