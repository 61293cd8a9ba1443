"""Seeded sample incidents in real log formats, with markers and ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import archive, geocaching, mfa

INCIDENTS: dict[str, Callable[..., dict]] = {
    "archive": archive.generate,
    "geocaching": geocaching.generate,
    "mfa": mfa.generate,
}


def generate(name: str, out: Path, seed: int = 7, scale: float = 1.0) -> dict:
    """Writes one incident's logs/, markers/ and ground_truth.json under ``out``."""
    return INCIDENTS[name](Path(out), seed=seed, scale=scale)

