"""The commands of the ``sessionlens`` command line, one module per family.

``sessionlens.cli`` assembles them into the group, reads sessionlens.toml
and maps errors once. Each command imports the library functions it calls
inside its body: the one place package imports are made lazily, so that
``sessionlens --help`` (and every command's start) loads only click, and
Polars, DuckDB, SciPy or Altair only when a command that needs them runs.
Commands raise :class:`~sessionlens.errors.SessionlensError` and never
catch it themselves.
"""
