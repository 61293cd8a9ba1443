"""Log formats: declared as data in ``specs/*.toml``, parsed by families.

Each spec names a family (the parser class) and carries sample lines with
the values they must produce; the test suite runs every sample. Adding a
format is adding a file. Custom templates (``--nginx-format``,
``--apache-format``) and JSON field maps build a parser on the fly.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Sequence, TypeVar

from ...errors import DetectionError, FormatError, InputError
from .access import AccessLogParser, ApacheParser, NginxParser
from .applog import AppLogParser
from .base import FileJob, Parser, Sample
from .cloudflare import CloudflareParser
from .extend import extend
from .jsonlines import AppEventsParser, JsonLinesParser, parse_json_map
from .rails import RailsParser
from .regexfmt import RegexParser
from .w3c import W3CParser

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAMILIES = ("nginx", "apache", "cloudflare", "jsonl", "app-events", "rails", "applog", "regex", "w3c")
DETECT_THRESHOLD = 0.6  # share of the first lines a format must understand


@dataclass
class FormatSpec:
    """A format declared in a spec file."""

    name: str
    family: str
    description: str
    priority: int
    samples: list[Sample]
    template: str | None = None
    escape: str | None = None
    data: dict = field(default_factory=dict)  # the whole spec file, for families that declare more

    def parser(self, json_map: dict[str, str] | None = None) -> Parser:
        if json_map is None:
            return _built_in_parser(self)
        return make_parser(self.family, self.name, self.template, self.escape, self.description, self.samples, json_map,
                           self.data)


# Parsers hold nothing of a file (what a file tells, they keep on its job):
# one instance of a built-in format serves every file, since compiling its
# patterns costs more than parsing a small file.
_PARSERS: dict[str, Parser] = {}


def _built_in_parser(spec: FormatSpec) -> Parser:
    if spec.name not in _PARSERS:
        _PARSERS[spec.name] = make_parser(spec.family, spec.name, spec.template, spec.escape, spec.description,
                                          spec.samples, None, spec.data)
    return _PARSERS[spec.name]


def make_parser(
    family: str,
    name: str,
    template: str | None = None,
    escape: str | None = None,
    description: str = "",
    samples: list[Sample] | None = None,
    json_map: dict[str, str] | None = None,
    spec: dict | None = None,
) -> Parser:
    """Builds a parser of a family.

    ``spec`` is the whole spec file's data, for families whose specs declare
    more than a template (regex fields, JSON field paths, W3C defaults).
    """
    spec = spec or {}
    if family == "nginx":
        if not template:
            raise FormatError(f"format {name}: an nginx format needs a template")
        return NginxParser(name, template, escape, description, samples)
    if family == "apache":
        if not template:
            raise FormatError(f"format {name}: an Apache format needs a template")
        return ApacheParser(name, template, description, samples)
    if family == "cloudflare":
        return CloudflareParser(name, description, samples)
    if family == "jsonl":
        return JsonLinesParser(name, description, samples, json_map=json_map, spec=spec)
    if family == "app-events":
        return AppEventsParser(name, description, samples, json_map=json_map)
    if family == "rails":
        return RailsParser(name, description, samples)
    if family == "applog":
        return AppLogParser(name, description, samples)
    if family == "regex":
        return RegexParser(name, description, samples, spec=spec)
    if family == "w3c":
        return W3CParser(name, description, samples, spec=spec)
    raise FormatError(f"unknown format family {family!r} (known: {', '.join(FAMILIES)})")


def build_parser(
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
) -> Parser | None:
    """The parser the user asked for, or None to detect per file.

    Raises:
        InputError: more than one of the format options is given.
        FormatError: an unknown format name or an invalid template.
    """
    chosen = [x for x in (fmt, nginx_format, apache_format) if x]
    if len(chosen) > 1:
        raise InputError("give at most one of --format, --nginx-format and --apache-format")
    mapping = parse_json_map(json_map)
    if nginx_format:
        return make_parser("nginx", "nginx-custom", nginx_format)
    if apache_format:
        return make_parser("apache", "apache-custom", apache_format)
    if fmt:
        return get_spec(fmt).parser(mapping)
    if mapping:
        return make_parser("jsonl", "json-mapped", json_map=mapping)
    return None


def load_specs() -> list[FormatSpec]:
    """Every built-in format spec, highest detection priority first (read once per process)."""
    return list(_load_specs())


@functools.cache
def _load_specs() -> tuple[FormatSpec, ...]:
    specs = []
    folder = resources.files("sessionlens.ingestion.formats").joinpath("specs")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text())
        try:
            specs.append(
                FormatSpec(
                    name=data["name"],
                    family=data["family"],
                    description=data.get("description", ""),
                    priority=int(data.get("priority", 0)),
                    samples=[Sample(s["line"], dict(s.get("expect", {}))) for s in data.get("sample", [])],
                    template=data.get("template"),
                    escape=data.get("escape"),
                    data=data,
                )
            )
        except KeyError as exc:
            raise FormatError(f"format spec {entry.name}: missing {exc}") from None
    return tuple(sorted(specs, key=lambda s: -s.priority))


def get_spec(name: str) -> FormatSpec:
    for spec in load_specs():
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in load_specs())
    raise FormatError(f"unknown format {name!r} (known: {known})")


def detect(lines: list[str], json_map: dict[str, str] | None = None, hint: str | None = None) -> Parser:
    """Picks the format that explains the given first lines whole.

    A layout explains a line only when every field has its column's shape
    (see ``template.TYPED``), so a virtual-host prefix or a forwarded-for
    list never passes for the client. Ties go to the spec with the higher
    priority (the more specific one), and between an nginx and an Apache
    layout of the same text to nginx unless the lines show Apache's marks.
    When no layout explains the lines whole but a standard access layout
    explains their start, the trailing fields are named from their shapes
    (``extend``); failing that, the standard layout is used and the engine
    warns about the fields it drops.

    ``hint`` names the format of the file before (rotated logs, one file per
    host ...): when it explains these lines whole, only the formats that
    could still win against it are tried. The answer is the same as
    without the hint, for less work.
    """
    if not lines:
        raise DetectionError("the file is empty")
    specs = load_specs()
    if hint is not None:
        specs = _after_hint(specs, hint, lines, json_map)
    scored = []
    for spec in specs:
        parser = spec.parser(json_map)
        scored.append((parser.detect_score(lines), spec.priority, parser))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    best_score = scored[0][0]
    if best_score >= DETECT_THRESHOLD:
        tied = [p for score, _, p in scored if score == best_score]
        return _nginx_or_apache(tied, lines)
    prefixed = _with_trailing_fields(scored, lines)
    if prefixed is not None:
        return prefixed
    raise DetectionError(
        "no known format matches the first lines; name one with --format, --nginx-format or --apache-format"
    )


def _after_hint(specs: list[FormatSpec], hint: str, lines: list[str],
                json_map: dict[str, str] | None) -> list[FormatSpec]:
    """The specs that could beat ``hint`` if it explains every line; all of them if it does not.

    No score exceeds 1, and ties go to the higher priority, except that a
    tie holding both nginx and Apache layouts goes to the family the lines
    show, whatever else ties: so only specs of at least the hint's priority,
    and every nginx and Apache spec, can change the answer, and of those
    only the ones that may explain every line (:meth:`Parser.may_explain_all`).
    """
    first = next((s for s in specs if s.name == hint), None)
    if first is None or first.parser(json_map).detect_score(lines) < 1.0:
        return specs
    return [s for s in specs if s is first or ((s.priority >= first.priority or s.family in ("nginx", "apache"))
                                               and s.parser(json_map).may_explain_all(lines))]


# Apache writes %b as '-' for an empty body and escapes quotes as \"; nginx
# writes 0 and \x22. Without either mark the lines fit both.
_APACHE_MARKS = re.compile(r'" [1-5][0-9]{2} - |\\"')


P = TypeVar("P", bound=Parser)


def _nginx_or_apache(tied: Sequence[P], lines: list[str]) -> P:
    families = {p.family for p in tied}
    if {"nginx", "apache"} <= families:
        want = "apache" if any(_APACHE_MARKS.search(line) for line in lines) else "nginx"
        return next(p for p in tied if p.family == want)
    return tied[0]


def _with_trailing_fields(scored: list, lines: list[str]) -> Parser | None:
    shares: list[tuple[float, int, AccessLogParser]] = []
    for _, priority, parser in scored:
        if isinstance(parser, AccessLogParser):
            matched = [t for t in (parser.trailing_fields([line]) for line in lines) if t is not None]
            shares.append((len(matched) / len(lines), priority, parser))
    shares.sort(key=lambda t: (t[0], t[1]), reverse=True)
    if not shares or shares[0][0] < DETECT_THRESHOLD:
        return None
    tied = [p for share, _, p in shares if share == shares[0][0]]
    parser = _nginx_or_apache(tied, lines)
    # The preferred layout first; then its twins, which may name the fields
    # (an integer after combined is Apache's %D or %T, which nginx lacks).
    for candidate in [parser] + [p for p in tied if p is not parser]:
        trailing = [t[0] for t in (candidate.trailing_fields([line]) for line in lines) if t is not None]
        extended = extend(candidate, trailing)
        if extended is not None:
            return extended
    return parser


__all__ = ["FileJob", "FormatSpec", "Parser", "Sample", "build_parser", "detect", "get_spec", "load_specs",
           "make_parser"]
