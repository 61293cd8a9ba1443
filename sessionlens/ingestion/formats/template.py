"""Compile nginx ``log_format`` and Apache ``LogFormat`` strings.

A template becomes a list of pieces (literal text and variables). From the
pieces come two equivalent parsers that yield one column per variable:

* a *column layout* for DuckDB's quote-aware CSV reader (space separated,
  ``"`` quoted): the fast path, no regex over the whole line;
* one anchored regular expression: the fallback for the lines the CSV
  reader cannot split (odd quoting, missing fields) and for templates whose
  free-text variables are not quoted.

Variable names are nginx's (without ``$``); Apache directives are mapped to
them (``%h`` -> ``remote_addr``, ``%{Referer}i`` -> ``http_referer`` ...).
"""

# Longer than 300 lines: both compilers and both parser shapes (CSV columns,
# regex) stay together because they must stay equivalent piece for piece.

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import FormatError
from ...sqltext import literal, literal_list

# Variables whose value always holds exactly this many spaces.
FIXED_SPACES = {"time_local": 1}
# Variables whose value may hold any number of spaces. Unquoted, the CSV
# reader splits them wrongly and the line goes to the regex, which lets them
# span spaces; `request` and custom times always hold spaces, so a template
# with them unquoted skips the CSV path altogether.
FREE_TEXT_PREFIXES = ("http_", "sent_http_", "upstream_http_")
FREE_TEXT = {"request", "time_custom"}
# Unquoted, these rarely hold a space; when one does, the line is rejected by
# the CSV reader and rescued by the regex, which lets them span spaces.
SPACED_IN_REGEX = {"remote_user", "request_uri", "uri", "args", "query_string"}

# Variables often written back to back ("%U%q", "$uri$is_args$args"): their
# shapes tell where one ends and the next begins.
SHAPED = {"uri": r"[^?\s\"]*", "query_string": r"(?:\?[^\s\"]*)?", "is_args": r"\??"}
TIME_LOCAL_RE = r"[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}"

# What each variable's value must look like when a format is *detected*:
# a layout explains a line only if every field has its column's shape, so a
# virtual host, an X-Forwarded-For list or extra trailing fields cannot pass
# for the client address or be silently dropped.
IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
IPV6 = r"\[?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:" + IPV4 + r")?(?:%[0-9A-Za-z]+)?\]?"
IP = f"(?:{IPV4}|{IPV6})"
HOSTNAME = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?"
IP_LIST = f"(?:{IP}|unknown)(?:, ?(?:{IP}|unknown))*"
SECONDS = r"[0-9]+(?:\.[0-9]+)?"
TYPED = {
    "remote_addr": f"(?:{IP}|{HOSTNAME}|-)",  # %h is a hostname when HostnameLookups is on
    "remote_ident": r"\S+",
    "remote_user": r"\S+",
    "status": r"[1-5][0-9]{2}",
    "body_bytes_sent": r"[0-9]+|-",
    "body_bytes_sent_clf": r"[0-9]+|-",
    "bytes_sent": r"[0-9]+|-",
    "request_length": r"[0-9]+|-",
    "request_time": f"{SECONDS}|-",
    "upstream_response_time": f"(?:{SECONDS}|-)(?:(?:, | : )(?:{SECONDS}|-))*",
    "upstream_connect_time": f"(?:{SECONDS}|-)(?:(?:, | : )(?:{SECONDS}|-))*",
    "upstream_header_time": f"(?:{SECONDS}|-)(?:(?:, | : )(?:{SECONDS}|-))*",
    "request_time_us": r"[0-9]+|-",
    "request_time_s": r"[0-9]+|-",
    "msec": r"[0-9]{9,10}\.[0-9]{3}",
    "time_iso8601": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[+-][0-9]{2}:?[0-9]{2}|Z)",
    "http_x_forwarded_for": f"{IP_LIST}|-",
    "host": f"(?:{HOSTNAME}|{IP})(?::[0-9]+)?|-",
    "server_name": f"(?:{HOSTNAME}|{IP})|_|-",
    "server_port": r"[0-9]+",
    "upstream_addr": r"\S+(?:(?:, | : )\S+)*",
    "upstream_cache_status": r"[A-Za-z]+|-",
}


@dataclass(frozen=True)
class Var:
    """A variable in a template; ``part`` numbers the pieces of a spaced one."""

    name: str
    part: int = 0


@dataclass
class Template:
    """A compiled log template.

    Attributes:
        pieces: literals (str) and variables (Var) in order.
        escape: how values are escaped: 'default' (nginx \\xHH), 'json'
            (nginx escape=json), 'apache' (backslash escapes) or 'none'.
        source: the template string as given.
    """

    pieces: list[str | Var]
    escape: str = "default"
    source: str = ""
    columns: list[list[str | Var]] = field(default_factory=list)
    fast_path: bool = True

    @property
    def variables(self) -> list[str]:
        seen: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, Var) and piece.name not in seen:
                seen.append(piece.name)
        return seen


# --- nginx -------------------------------------------------------------

_NGINX_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def compile_nginx(fmt: str) -> Template:
    """Compiles an nginx log_format string (optionally led by ``escape=...``)."""
    escape = "default"
    text = fmt.strip()
    m = re.match(r"^escape=(default|json|none)\s+", text)
    if m:
        escape, text = m.group(1), text[m.end() :]
    # log_format values are often pasted with their surrounding single quotes,
    # possibly as several concatenated strings: 'a' 'b'.
    if text.startswith("'") and text.endswith("'"):
        text = "".join(re.findall(r"'((?:[^'\\]|\\.)*)'", text))
    pieces: list[str | Var] = []
    pos = 0
    for m in _NGINX_VAR.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
        pieces.append(Var((m.group(1) or m.group(2)).lower()))
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
    if not any(isinstance(p, Var) for p in pieces):
        raise FormatError(f"nginx format has no $variables: {fmt!r}")
    return _finish(pieces, escape, fmt)


# --- Apache ------------------------------------------------------------

_APACHE_SIMPLE = {
    "h": "remote_addr",
    "a": "remote_addr",
    "l": "remote_ident",
    "u": "remote_user",
    "r": "request",
    "s": "status",
    "b": "body_bytes_sent_clf",
    "B": "body_bytes_sent",
    "O": "bytes_sent",
    "I": "request_length",
    "D": "request_time_us",
    "T": "request_time_s",
    "v": "server_name",
    "V": "host",
    "m": "request_method",
    "U": "uri",
    "q": "query_string",
    "H": "server_protocol",
    "p": "server_port",
    "P": "pid",
    "A": "server_addr",
    "L": "request_id",
    "X": "connection_status",
    "k": "keepalive",
    "f": "request_filename",
}
_APACHE_DIRECTIVE = re.compile(r"%(?:!?[0-9,]+)?([<>])?(?:\{([^}]*)\})?([a-zA-Z%])")


def _header_var(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^a-z0-9]+", "_", name.lower())


def compile_apache(fmt: str) -> Template:
    """Compiles an Apache LogFormat string (mod_log_config directives)."""
    text = fmt.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    pieces: list[str | Var] = []
    pos = 0
    for m in _APACHE_DIRECTIVE.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
        pos = m.end()
        arg, letter = m.group(2), m.group(3)
        if letter == "%":
            pieces.append("%")
        elif letter == "t" and not arg:
            pieces.extend(["[", Var("time_local"), "]"])
        elif letter == "t":
            pieces.append(Var("time_custom"))
        elif letter == "i" and arg:
            pieces.append(Var(_header_var("http_", arg)))
        elif letter == "o" and arg:
            pieces.append(Var(_header_var("sent_http_", arg)))
        elif letter == "C" and arg:
            pieces.append(Var("cookie_" + arg.lower()))
        elif letter == "e" and arg:
            pieces.append(Var(_header_var("env_", arg)))
        elif letter == "n" and arg:
            pieces.append(Var(_header_var("note_", arg)))
        elif letter in _APACHE_SIMPLE:
            pieces.append(Var(_APACHE_SIMPLE[letter]))
        else:
            raise FormatError(f"unsupported Apache directive %{letter} in {fmt!r}")
    if pos < len(text):
        pieces.append(text[pos:])
    if not any(isinstance(p, Var) for p in pieces):
        raise FormatError(f"Apache format has no %directives: {fmt!r}")
    return _finish(pieces, "apache", fmt)


# --- layout ------------------------------------------------------------


def _is_free_text(name: str) -> bool:
    return name in FREE_TEXT or name.startswith(FREE_TEXT_PREFIXES)


def _finish(pieces: list[str | Var], escape: str, source: str) -> Template:
    """Merges adjacent literals and works out the CSV column layout."""
    merged: list[str | Var] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif piece != "":
            merged.append(piece)
    template = Template(pieces=merged, escape=escape, source=source)
    template.columns, template.fast_path = _layout(merged)
    return template


def _layout(pieces: list[str | Var]) -> tuple[list[list[str | Var]], bool]:
    """Splits pieces into CSV columns at spaces outside quotes.

    Returns the columns and whether the CSV fast path can parse the template:
    free-text variables must sit inside quotes, quotes must be balanced and
    a quoted region must fill a whole column.
    """
    columns: list[list[str | Var]] = [[]]
    in_quotes = False
    fast = True
    for piece in pieces:
        if isinstance(piece, Var):
            spaces = FIXED_SPACES.get(piece.name, 0)
            if not in_quotes and piece.name in FREE_TEXT:
                fast = False  # always holds spaces: every line would need the regex
            if in_quotes or spaces == 0:
                columns[-1].append(piece)
            else:
                for part in range(spaces + 1):
                    if part:
                        columns.append([])
                    columns[-1].append(Var(piece.name, part))
            continue
        for ch in piece:
            if ch == '"':
                in_quotes = not in_quotes
                columns[-1].append('"')
            elif ch == " " and not in_quotes:
                columns.append([])
            elif columns[-1] and isinstance(columns[-1][-1], str):
                columns[-1][-1] += ch
            else:
                columns[-1].append(ch)
    if in_quotes:
        fast = False
    columns = [c for c in columns if c]
    for col in columns:
        quotes = [p for p in col if p == '"']
        if quotes and not (len(quotes) == 2 and col[0] == '"' and col[-1] == '"'):
            fast = False  # a quote in the middle of a column: CSV cannot split it
    return columns, fast


def column_value_sql(template: Template, col_names: list[str]) -> dict[str, str]:
    """SQL per variable from the CSV columns (named ``col_names``)."""
    parts: dict[str, dict[int, str]] = {}
    for col, cname in zip(template.columns, col_names, strict=True):
        inner = [p for p in col if p != '"']
        variables = [p for p in inner if isinstance(p, Var)]
        if len(variables) == 1:
            var = variables[0]
            idx = inner.index(var)
            prefix = "".join(p for p in inner[:idx] if isinstance(p, str))
            suffix = "".join(p for p in inner[idx + 1 :] if isinstance(p, str))
            expr = cname
            if prefix or suffix:
                expr = (
                    f"CASE WHEN starts_with({cname}, {literal(prefix)}) AND ends_with({cname}, {literal(suffix)}) "
                    f"THEN {cname}[{len(prefix) + 1}:length({cname}) - {len(suffix)}] END"
                )
            parts.setdefault(var.name, {})[var.part] = expr
        elif len(variables) > 1:
            regex = "^" + "".join(_piece_regex(p, True) for p in inner) + "$"
            names = [f"{v.name}__{v.part}" for v in variables]
            struct = f"regexp_extract({cname}, {literal(regex)}, {literal_list(names)})"
            for var, name in zip(variables, names, strict=True):
                parts.setdefault(var.name, {})[var.part] = f"nullif({struct}.{name}, '')"
    out: dict[str, str] = {}
    for name, by_part in parts.items():
        ordered = [by_part[i] for i in sorted(by_part)]
        out[name] = ordered[0] if len(ordered) == 1 else " || ' ' || ".join(ordered)
    return out


def line_regex(template: Template, typed: bool = False, trailing: bool = True) -> tuple[str, list[str]]:
    """One anchored RE2 pattern for a whole line, and its group names.

    Args:
        template: the compiled template.
        typed: give each variable its column's shape (``TYPED``): the pattern
            that decides whether a layout explains a line.
        trailing: tolerate fields after the template's last one (nginx
            configs often append some); with ``typed`` and no ``trailing``
            the pattern must explain the whole line.
    """
    out = ["^"]
    names: list[str] = []
    in_quotes = False
    pieces = template.pieces
    skip_quote = False  # the closing quote of a value written as (?:"value"|-) is already out
    for i, piece in enumerate(pieces):
        if isinstance(piece, str):
            for j, ch in enumerate(piece):
                if j == 0 and skip_quote:
                    skip_quote = False
                    in_quotes = False
                    continue
                if ch == '"':
                    in_quotes = not in_quotes
                    if in_quotes and j == len(piece) - 1 and _lone_quoted_var(pieces, i, names):
                        continue  # the quote goes out with the value that follows
                out.append(r"\s+" if ch == " " and not in_quotes else re.escape(ch))
            continue
        if piece.name in names:
            out.append(_piece_regex(piece, in_quotes, capture=False, typed=typed))
        elif in_quotes and _lone_quoted_var(pieces, i - 1, names):
            # A missing value is written "-" by nginx and Apache, but some
            # writers (and proxies rewriting logs) leave its quotes out.
            names.append(piece.name)
            names.append(piece.name + DASH_SUFFIX)
            out.append(f'(?:"{_piece_regex(piece, True, typed=typed)}"|(-))')
            skip_quote = True
        else:
            names.append(piece.name)
            out.append(_piece_regex(piece, in_quotes, typed=typed))
    # Fields appended after the template's last one are captured, so that
    # detection can name them and the engine can count and warn about them.
    out.append(r"(\s+.*)?$" if trailing else r"\s*$")
    return "".join(out), names


# Names the regex group that holds a value's unquoted "-" (see line_regex).
DASH_SUFFIX = "__unquoted_dash"


def _lone_quoted_var(pieces: list[str | Var], i: int, names: list[str]) -> bool:
    """Whether piece i ends with an opening quote and is followed by one new variable, then a closing quote."""
    if i < 0 or i + 2 >= len(pieces):
        return False
    here, var, after = pieces[i], pieces[i + 1], pieces[i + 2]
    return (isinstance(here, str) and here.endswith('"') and isinstance(var, Var) and var.name not in names
            and isinstance(after, str) and after.startswith('"'))


def _piece_regex(piece: str | Var, in_quotes: bool, capture: bool = True, typed: bool = False) -> str:
    if isinstance(piece, str):
        return re.escape(piece)
    if typed and piece.name in TYPED and (not in_quotes or piece.name != "remote_user"):
        body = TYPED[piece.name]
    elif piece.name == "time_local":
        body = f"{TIME_LOCAL_RE}|-"
    elif piece.name in SHAPED:
        body = SHAPED[piece.name]
    elif in_quotes:
        body = r'(?:[^"\\]|\\.)*?'
    elif _is_free_text(piece.name) or piece.name in SPACED_IN_REGEX:
        body = r".*?"
    elif piece.name.startswith("upstream_"):
        body = r"\S*?(?:(?:, | : )\S*?)*"  # one value per upstream tried
    else:
        body = r"\S*?"
    return f"({body})" if capture else f"(?:{body})"
