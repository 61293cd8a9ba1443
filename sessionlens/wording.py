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
