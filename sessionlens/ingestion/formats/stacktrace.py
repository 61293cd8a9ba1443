"""Stack traces under a log record: which lines continue it, which exception it names.

Three layouts are recognised, all as RE2 patterns evaluated in DuckDB:

* PHP / Monolog (Laravel): ``Stack trace:`` or ``[stacktrace]``, frames
  ``#0 /path/File.php(12): ...``, ``[previous exception] [object] (...)``,
  ``Next Foo\\Bar: ...`` and the ``"}`` that closes the JSON context. The
  class is ``[object] (Foo\\Bar(code: 0): ...`` or ``exception 'Foo\\Bar'``;
  Monolog's JSON doubles the backslashes, and they are undoubled.
* Python: ``Traceback (most recent call last):``, indented ``File``/source
  lines, chained-exception sentences, and a last line ``pkg.Error: message``
  which names the exception (Python prints the one raised last).
* Java: a ``pkg.SomeException: message`` line, ``\\tat pkg.Cls.m(Cls.java:42)``
  frames, ``Caused by: ...``, ``Suppressed: ...`` and ``\\t... 12 more``. The
  first exception line names it (Java prints the outermost first).
"""

from __future__ import annotations

import re

from ...sqltext import literal

# A qualified class name alone or followed by ':' (Java / Python exception
# lines), and the unqualified names Python's builtins use.
# The class is CamelCase, so "production.ERROR:" (Monolog in syslog) is not one.
_QUALIFIED = r"(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*[a-z][\w$]*"
_BUILTIN = r"[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration)"
EXC_LINE_RE = rf"^(?:Exception in thread \"[^\"]*\" )?({_QUALIFIED}|{_BUILTIN})(?::.*)?$"
CAUSED_BY_RE = rf"^Caused by: ({_QUALIFIED})"
# Last resort: a qualified ...Exception/...Error named inside a one-line message.
NAMED_ANYWHERE_RE = r"\b((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))\b"

# Lines that belong to the record above them.
CONTINUATION = (
    r"^(?:\s|#[0-9]+ |Stack trace:|\[stacktrace\]|\[previous exception\] |\"\}|\{main\}|Next |"
    r"Traceback|File \"|During handling of the above exception|The above exception was the direct cause|"
    r"Caused by: |Wrapped by: |Exception in thread |"
    rf"{_QUALIFIED}(?::|$)|{_BUILTIN}(?::|$)|\S+Error: |\S+Exception: )"
)
CONTINUATION_RE = re.compile(CONTINUATION)

# PHP: Monolog's normalised exception, the pre-5.6 Laravel wording, PHP's own
# "Uncaught" fatal error, and any namespaced ...Exception as a last resort.
_PHP_CLASS = r"[A-Za-z_][A-Za-z0-9_]*(?:\\{1,2}[A-Za-z_][A-Za-z0-9_]*)*"
# PHP's own trace prints the innermost exception first and each wrapping one
# after "Next": the last "Next" is the one thrown.
PHP_NEXT_RE = rf"(?:^|\n)Next (?:exception ')?({_PHP_CLASS})"
PHP_PATTERNS = [
    rf"\[object\] \(({_PHP_CLASS})\(code: ",
    rf"exception '({_PHP_CLASS})' (?:in|with message) ",
    rf"Uncaught ({_PHP_CLASS})[:(]",
    r"\b([A-Z][A-Za-z0-9]*(?:\\{1,2}[A-Z][A-Za-z0-9]*)+(?:Exception|Error))\b",
]
# Monolog leaves a record's JSON context open across lines: {"exception":"[object] ...
MONOLOG_CONTEXT_OPEN = r"\"exception\":\"\[object\]"
MONOLOG_CONTEXT_CLOSE = r"\"\}\s*(?:\[\]\s*)?$"


def line_flags_sql(body: str) -> str:
    """Per-line SELECT items: the exception class a line names, and markers."""
    return f"""nullif(regexp_extract({body}, {literal(EXC_LINE_RE)}, 1), '') AS exc_line,
    nullif(regexp_extract({body}, {literal(CAUSED_BY_RE)}, 1), '') AS caused_by,
    starts_with({body}, 'Traceback (most recent call last)') AS py_traceback"""


def record_aggregates_sql(order: str = "line_no") -> str:
    """Per-record aggregates over the line flags (for a GROUP BY).

    The header line is excluded: a record's first line is never a trace line.
    """
    return f"""arg_min(exc_line, {order}) FILTER (WHERE exc_line IS NOT NULL AND NOT is_first) AS first_exc,
    arg_max(exc_line, {order}) FILTER (WHERE exc_line IS NOT NULL AND NOT is_first) AS last_exc,
    arg_min(caused_by, {order}) FILTER (WHERE caused_by IS NOT NULL) AS first_cause,
    coalesce(bool_or(py_traceback), false) AS has_traceback"""


def exception_sql(message: str) -> str:
    """SQL naming a record's exception class from its aggregates and joined message."""
    php = ", ".join([f"regexp_extract_all({message}, {literal(PHP_NEXT_RE)}, 1)[-1]"]
                    + [f"nullif(regexp_extract({message}, {literal(p)}, 1), '')" for p in PHP_PATTERNS])
    # Python prints the exception raised last at the bottom; elsewhere the
    # outermost comes first and causes follow.
    anywhere = f"nullif(regexp_extract({message}, {literal(NAMED_ANYWHERE_RE)}, 1), '')"
    chosen = (f"CASE WHEN has_traceback THEN coalesce(last_exc, {php}, {anywhere}) "
              f"ELSE coalesce({php}, first_exc, first_cause, {anywhere}) END")
    return rf"regexp_replace({chosen}, '\\+', '\\', 'g')"
