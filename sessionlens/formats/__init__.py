"""Log formats: declared as data in ``specs/*.toml``, parsed by families.

Each spec names a family (the parser class) and carries sample lines with
the values they must produce; the test suite runs every sample. Adding a
format is adding a file. Custom templates (``--nginx-format``,
``--apache-format``) and JSON field maps build a parser on the fly.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources

from ..errors import DetectionError, FormatError
from .access import ApacheParser, NginxParser
from .applog import AppLogParser
from .base import FileJob, Parser, Sample
from .jsonlines import AppEventsParser, CloudflareParser, JsonLinesParser
from .rails import RailsParser

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAMILIES = ("nginx", "apache", "cloudflare", "jsonl", "app-events", "rails", "applog")
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

    def parser(self, json_map: dict[str, str] | None = None) -> Parser:
        return make_parser(self.family, self.name, self.template, self.escape, self.description, self.samples, json_map)


def make_parser(
    family: str,
    name: str,
    template: str | None = None,
    escape: str | None = None,
    description: str = "",
    samples: list[Sample] | None = None,
    json_map: dict[str, str] | None = None,
) -> Parser:
    """Builds a parser of a family."""
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
        return JsonLinesParser(name, description, samples, json_map=json_map)
    if family == "app-events":
        return AppEventsParser(name, description, samples, json_map=json_map)
    if family == "rails":
        return RailsParser(name, description, samples)
    if family == "applog":
        return AppLogParser(name, description, samples)
    raise FormatError(f"unknown format family {family!r} (known: {', '.join(FAMILIES)})")


def load_specs() -> list[FormatSpec]:
    """Every built-in format spec, highest detection priority first."""
    specs = []
    for entry in sorted(resources.files("sessionlens.formats").joinpath("specs").iterdir(), key=lambda p: p.name):
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
                )
            )
        except KeyError as exc:
            raise FormatError(f"format spec {entry.name}: missing {exc}") from None
    return sorted(specs, key=lambda s: -s.priority)


def get_spec(name: str) -> FormatSpec:
    for spec in load_specs():
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in load_specs())
    raise FormatError(f"unknown format {name!r} (known: {known})")


def detect(lines: list[str], json_map: dict[str, str] | None = None) -> Parser:
    """Picks the format that understands most of the given first lines.

    Ties go to the spec with the higher priority (the more specific one).
    """
    if not lines:
        raise DetectionError("the file is empty")
    best: tuple[float, int, FormatSpec] | None = None
    for spec in load_specs():
        score = spec.parser(json_map).detect_score(lines)
        if score >= DETECT_THRESHOLD and (best is None or (score, spec.priority) > best[:2]):
            best = (score, spec.priority, spec)
    if best is None:
        raise DetectionError(
            "no known format matches the first lines; name one with --format, --nginx-format or --apache-format"
        )
    return best[2].parser(json_map)


__all__ = ["FileJob", "FormatSpec", "Parser", "Sample", "detect", "get_spec", "load_specs", "make_parser"]
