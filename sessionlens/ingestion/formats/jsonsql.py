"""The SQL that reads JSON values for the JSON-lines parsers.

All the paths a file needs are read by one ``json_extract`` call per line
(:class:`JsonFields`); each key's value is then made a scalar: an array of
one value is unwrapped (Caddy's headers are arrays), and an object or a
longer array becomes NULL, never its JSON text, so a nested object holding
an IP or a cookie cannot land in a column that is stored as is.
"""

from __future__ import annotations

from ...sqltext import literal, literal_list

# Values of JSON keys naming a credential, blanked in a line kept for a
# reject excerpt: the excerpt redaction does not see inside ["Bearer x"].
_SECRET_VALUE_RE = (
    r'(?i)("[^"]*(?:cookie|authori[sz]ation|token|secret|passw|api[-_]?key)[^"]*"\s*:\s*)'
    r'(\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\]|"(?:[^"\\]|\\.)*"|[^,}\]\s]+)'
)


def ts_sql(x: str) -> str:
    """SQL reading a timestamp given as RFC 3339 text or epoch s / ms / ns."""
    head = f"length(split_part(ltrim({x}, '-'), '.', 1))"
    return f"""CASE
      WHEN {x} IS NULL THEN NULL
      WHEN regexp_full_match({x}, '-?[0-9]+(\\.[0-9]+)?') THEN
        CASE WHEN {head} >= 16 THEN to_timestamp(CAST({x} AS DOUBLE) / 1e9)
             WHEN {head} >= 12 THEN to_timestamp(CAST({x} AS DOUBLE) / 1e3)
             ELSE to_timestamp(CAST({x} AS DOUBLE)) END
      ELSE try_cast({x} AS TIMESTAMPTZ) END"""


def scalar_sql(v: str) -> str:
    """SQL: a JSON value (text from ``json_extract``) as a scalar, or NULL.

    The first character tells the JSON type (``json_extract`` writes compact
    JSON): a string without escapes is cut out of its quotes and a number
    is its own text, so the common values cost no second parse. (The casts
    keep the result VARCHAR: a JSON-typed result would be parsed again by
    a later cast.)
    """
    return f"""nullif(CASE left({v}, 1)
      WHEN '"' THEN CASE WHEN contains({v}, '\\') THEN json_extract_string({v}, '$') ELSE CAST({v} AS VARCHAR)[2:-2] END
      WHEN '{{' THEN NULL
      WHEN '[' THEN CASE WHEN json_array_length({v}) = 1 AND json_type({v}, '$[0]') NOT IN ('OBJECT', 'ARRAY')
                         THEN json_extract_string({v}, '$[0]') END
      WHEN 'n' THEN NULL
      ELSE CAST({v} AS VARCHAR) END, '')"""


def joined_sql(v: str, sep: str = "; ") -> str:
    """SQL: a header value whose repeats may be an array (Cookie, X-Forwarded-For), joined."""
    items = f"list_filter(json_extract_string({v}, '$[*]'), lambda x: x IS NOT NULL)"
    return f"""CASE left({v}, 1)
      WHEN '{{' THEN NULL
      WHEN '[' THEN nullif(array_to_string({items}, {literal(sep)}), '')
      ELSE nullif(json_extract_string({v}, '$'), '') END"""


def unusable_sql(v: str) -> str:
    """SQL: whether a JSON value is an object or an array that is not one scalar."""
    return (f"(left({v}, 1) = '{{' OR (left({v}, 1) = '[' AND NOT coalesce(json_array_length({v}) = 1 "
            f"AND json_type({v}, '$[0]') NOT IN ('OBJECT', 'ARRAY'), false)))")


def strip_port_sql(x: str) -> str:
    """SQL: an address without its port: 192.0.2.1:443 and [2001:db8::1]:443 -> the IP."""
    return f"""CASE
      WHEN starts_with({x}, '[') THEN nullif(regexp_extract({x}, '^\\[([^\\]]*)\\]', 1), '')
      WHEN regexp_full_match({x}, '[^:]+:[0-9]+') THEN split_part({x}, ':', 1)
      ELSE {x} END"""


def scrub_secrets_sql(raw: str) -> str:
    """SQL: a JSON line with the values of credential-named keys blanked."""
    return f"regexp_replace({raw}, {literal(_SECRET_VALUE_RE)}, '\\1\"\"', 'g')"


class JsonFields:
    """Collects JSON paths so one ``json_extract`` call per line reads them all.

    ``value(paths, mode)`` names a column holding the first of the paths
    present (JSON null skipped), converted once: 'scalar', 'joined' or
    'commas' (array items joined with '; ' or ', '), 'json' (the JSON value itself) or 'unusable'
    (whether it is an object or a list). A query selects, layer upon layer,
    ``extract_sql``, ``pick_sql`` and ``columns_sql``.
    """

    CONVERT = {"scalar": scalar_sql, "joined": joined_sql, "commas": lambda v: joined_sql(v, ", "), "json": lambda v: v,
               "unusable": unusable_sql}

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.values: dict[tuple[tuple[str, ...], str], str] = {}

    def value(self, paths: list[str], mode: str = "scalar") -> str:
        for p in paths:
            if p not in self.paths:
                self.paths.append(p)
        return self.values.setdefault((tuple(paths), mode), f"_f{len(self.values) + 1}")

    def __call__(self, path: str, mode: str = "scalar") -> str:
        return self.value([path], mode)

    def raw(self, path: str) -> str:
        """A column with the path's JSON value as JSON (objects included)."""
        return self.value([path], "json")

    def extract_sql(self, line: str = "line") -> str:
        return f"json_extract({line}, {literal_list(self.paths or ['$'])}) AS _v"

    def pick_sql(self) -> str:
        """Each value's first present path, as JSON (a key's aliases meet here, before converting).

        Only JSON null is skipped: an alias holding an object hides later
        ones (the key is then NULL, never text, and the file is warned
        about); testing every alias for objects too costs ~12% more CPU.
        """
        cols = []
        for (paths, _), name in self.values.items():
            refs = [f"_v[{self.paths.index(p) + 1}]" for p in paths]
            skip_null = [f"nullif({r}, {literal('null')})" for r in refs]
            pick = refs[0] if len(refs) == 1 else f"coalesce({', '.join(skip_null)})"
            cols.append(f"{pick} AS _c{name[2:]}")
        return ", ".join(cols) or "NULL AS _c0"

    def columns_sql(self) -> str:
        cols = [f"{self.CONVERT[mode](f'_c{name[2:]}')} AS {name}" for (_, mode), name in self.values.items()]
        return ", ".join(cols) or "NULL AS _f0"

    def select_sql(self, source: str, keep: str) -> str:
        """The three layers over ``source`` (which has ``line``), keeping the ``keep`` columns."""
        return (f"SELECT {keep}, {self.columns_sql()} FROM (SELECT {keep}, {self.pick_sql()} FROM ("
                f"SELECT {keep}, {self.extract_sql()} FROM {source}))")
