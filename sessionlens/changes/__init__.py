"""Changes: what was deployed or switched, written down by people or inferred from the logs.

- :mod:`.model`: the :class:`~.model.Change` record and its time helpers;
- :mod:`.markers`: marker files (sessionlens, Grafana, Honeycomb, Cloudflare
  audit) read record by record, each checked by :mod:`.validate`;
- :mod:`.store`: the lake's ``changes`` table (import, add, remove, read);
- :mod:`.infer`: changes read from the logs (rollouts, cookie formats, edge
  and cache switches), linked to written ones.

The public names are re-exported here.
"""

from .infer import all_changes, infer_changes
from .markers import read_marker_file
from .model import Change, iso, parse_time
from .store import ImportResult, add_change, import_markers, remove_changes, written_changes

__all__ = ["Change", "ImportResult", "add_change", "all_changes", "import_markers", "infer_changes", "iso",
           "parse_time", "read_marker_file", "remove_changes", "written_changes"]
