"""sessionlens: find the change that broke users' sessions.

The public API (``sessionlens.ingest``, ``analyze``, ``preview``, ``Lake``,
``Analysis``, ``IngestSummary``, ``FieldOptions``, ``SessionlensError``) is
resolved on first use through a module-level ``__getattr__`` (PEP 562): the
analysis imports SciPy and the lake DuckDB, and eager imports here would make
every ``import sessionlens`` (and so ``sessionlens --help``) pay for them.
``from sessionlens import analyze`` still gives the function: the names
below are looked up here before Python falls back to a subpackage, and
``analyze``/``ingest``/``preview`` are no subpackage's name (those are
``analysis``/``ingestion``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {  # public name -> the module defining it
    "Analysis": ".analysis.pipeline",
    "analyze": ".analysis.pipeline",
    "FieldOptions": ".ingestion.options",
    "IngestSummary": ".ingestion.engine",
    "ingest": ".ingestion.engine",
    "preview": ".ingestion.engine",
    "Lake": ".lake.store",
    "SessionlensError": ".errors",
}

__all__ = ["Analysis", "FieldOptions", "IngestSummary", "Lake", "SessionlensError", "analyze", "ingest", "preview",
           "__version__"]

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on demand
    from .analysis.pipeline import Analysis, analyze
    from .errors import SessionlensError
    from .ingestion.engine import IngestSummary, ingest, preview
    from .ingestion.options import FieldOptions
    from .lake.store import Lake


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # resolved once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
