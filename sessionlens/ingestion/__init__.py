"""Ingestion: log files in, Parquet rows in the lake out.

``engine`` runs an ingest over every input (``sessionlens.ingest``);
``ingestor`` takes one file through identity (``identity``, ``reader``,
``containers``), parsing (``formats/``, one family per log layout, the
formats themselves declared in ``formats/specs/*.toml``), normalising
(``normalise``, ``rules``, ``options``) and staging (``staging``) into a
committed lake segment; ``marker_files`` stores change markers met among
the logs; ``preview`` parses a file without a lake; ``forget`` drops
ingested files again.

This package re-exports nothing: ``sessionlens.ingest`` and
``sessionlens.preview`` are imported from :mod:`.engine`, and no name here
may shadow them.
"""
