"""sessionlens: find the change that broke users' sessions."""

from .analysis.pipeline import Analysis, analyze
from .errors import SessionlensError
from .ingestion.engine import IngestSummary, ingest, preview
from .lake.store import Lake
from .ingestion.options import FieldOptions

__version__ = "0.1.0"

__all__ = ["Analysis", "FieldOptions", "IngestSummary", "Lake", "SessionlensError", "analyze", "ingest", "preview",
           "__version__"]
