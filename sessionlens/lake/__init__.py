"""The lake: Parquet files, the manifest that makes them visible, and the engine that queries them.

:class:`Lake` (in :mod:`.store`) owns every write and the one connection a
command reads through (:meth:`Lake.engine`); :mod:`.schema` defines every
table's columns, :mod:`.sql` and ``sessionlens/queries/`` the named queries,
:mod:`.engine` the seam a second query engine would implement.
"""

from .store import Lake

__all__ = ["Lake"]
