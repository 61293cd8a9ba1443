"""What the benchmark scripts share: describing the machine, recording results."""

from __future__ import annotations

import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"  # noqa: E501


def record(section: str, enabled: bool = True) -> None:
    """Prints a result section and, unless disabled, appends it to docs/benchmarks.md."""
    print(section)
    if enabled:
        with open(RESULTS, "a") as fh:
            fh.write(section)


def section(title: str, command: str, *lines: str) -> str:
    """A result section as docs/benchmarks.md holds them: title with the time, machine, command, then the lines."""
    from datetime import datetime, timezone

    return "\n".join([f"\n### {title}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
                      f"Machine: {machine()}  ", f"Command: `{command}`  ", *lines, ""])
