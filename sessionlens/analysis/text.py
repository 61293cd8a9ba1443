"""How numbers and lists are written, one way everywhere: shares, p-values, multiples, lists, sizes."""

from __future__ import annotations

import math
from typing import Iterable, Protocol

NONE_VALUE = "(none)"  # the value the queries give traffic that carries no value of a dimension


class Described(Protocol):
    """Anything that puts its own size into words: an ``Anomaly``.

    Named by what it does rather than imported: the anomaly types word
    themselves with the helpers here, so importing them would make a circle.
    """

    def describe(self) -> str:
        """The size in words, with its unit and period."""
        ...


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


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 client``, ``412 clients``, ``2 client addresses`` (``many`` for an irregular plural)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def join_words(items: Iterable[str], last: str = " and ", limit: int | None = None,
               more: str = " and {n} more") -> str:
    """A list as a reader says it: ``a``, ``a and b``, ``a, b and c``.

    Args:
        items: the texts, in order.
        last: what joins the last two (``" or "``; ``", "`` for a plain list).
        limit: at most this many are named...
        more: ... and the rest are summed up by this (``{n}``: how many were left out).
    """
    items = list(items)
    if limit is not None and len(items) > limit:
        return ", ".join(items[:limit]) + more.format(n=len(items) - limit)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + last + items[-1]


def names_something(dimension: str, value: str) -> bool:
    """Whether a dimension's value is worth naming: traffic without a host or version says nothing,
    but requests without a session cookie (cookie_format ``(none)``) are a finding of their own."""
    return value != NONE_VALUE or dimension == "cookie_format"


def anomaly_size(a: Described) -> str:
    """An anomaly's size in words, with its unit and period: the one entry the reports use.

    For example ``412 clients looping, up to 57 logout/login cycles per client within 10 min``.
    Each kind words itself (``Anomaly.describe`` in ``anomalies.result``); a
    kind that does not shows its ``size`` and ``unit``.
    """
    return a.describe()
