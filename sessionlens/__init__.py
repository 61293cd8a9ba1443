"""sessionlens: find the change that broke users' sessions."""

from .analyze import Analysis, analyze
from .errors import SessionlensError
from .ingest import IngestSummary, ingest, preview
from .lake import Lake
from .options import FieldOptions

__version__ = "0.1.0"

__all__ = ["Analysis", "FieldOptions", "IngestSummary", "Lake", "SessionlensError", "analyze", "ingest", "preview",
           "__version__"]
