"""Session-error classification rules.

Rules are data: a default TOML file ships with sessionlens and users add or
override rules with their own file. They compile to one SQL CASE expression
evaluated inside the normalising query, so classification costs no Python
per record.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import RulesError
from ..sqltext import literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONDITION_KEYS = ("status", "method", "path", "query", "location", "message", "event", "sources")
REGEX_KEYS = ("path", "query", "location", "message")


@dataclass(frozen=True)
class Rule:
    """One classification rule: all given conditions must hold."""

    name: str
    kind: str
    status: tuple[int, ...] = ()
    method: tuple[str, ...] = ()
    event: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    path: str | None = None
    query: str | None = None
    location: str | None = None
    message: str | None = None
    enabled: bool = True

    def sql(self) -> str:
        """The rule's condition as SQL over the raw columns."""
        parts: list[str] = []
        if self.status:
            parts.append(f"status IN ({', '.join(str(s) for s in self.status)})")
        if self.method:
            parts.append(f"upper(method) IN ({', '.join(literal(m.upper()) for m in self.method)})")
        if self.event:
            parts.append(f"lower(event) IN ({', '.join(literal(e.lower()) for e in self.event)})")
        if self.sources:
            parts.append(f"source IN ({', '.join(literal(s) for s in self.sources)})")
        for key, column in (("path", "_path"), ("query", "_query"), ("location", "location"), ("message", "message")):
            pattern = getattr(self, key)
            if pattern is not None:
                parts.append(f"coalesce(regexp_matches({column}, {literal(pattern)}), false)")
        return " AND ".join(parts) if parts else "false"


@dataclass
class RuleSet:
    """An ordered list of rules; the first that matches names the error."""

    rules: list[Rule] = field(default_factory=list)

    def case_sql(self) -> tuple[str, str]:
        """SQL for (error_kind, error_rule) over the raw columns."""
        active = [r for r in self.rules if r.enabled]
        if not active:
            return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
        rule_arms = " ".join(f"WHEN {r.sql()} THEN {literal(r.name)}" for r in active)
        rule_expr = f"CASE {rule_arms} END"
        kind_arms = " ".join(f"WHEN {literal(r.name)} THEN {literal(r.kind)}" for r in active)
        return f"CASE error_rule {kind_arms} END", rule_expr


def _parse(data: dict, origin: str) -> list[Rule]:
    rules = []
    for i, raw in enumerate(data.get("rule", []), 1):
        where = f"{origin}: rule {i}"
        if "name" not in raw or "kind" not in raw:
            raise RulesError(f"{where}: every rule needs a name and a kind")
        unknown = set(raw) - set(CONDITION_KEYS) - {"name", "kind", "enabled"}
        if unknown:
            raise RulesError(f"{where} ({raw['name']}): unknown key(s) {', '.join(sorted(unknown))}")
        for key in REGEX_KEYS:
            if key in raw:
                try:
                    re.compile(raw[key])
                except re.error as exc:
                    raise RulesError(f"{where} ({raw['name']}): bad {key} regex: {exc}") from None
        try:
            rules.append(
                Rule(
                    name=str(raw["name"]),
                    kind=str(raw["kind"]),
                    status=tuple(int(s) for s in raw.get("status", ())),
                    method=tuple(str(m) for m in raw.get("method", ())),
                    event=tuple(str(e) for e in raw.get("event", ())),
                    sources=tuple(str(s) for s in raw.get("sources", ())),
                    path=raw.get("path"),
                    query=raw.get("query"),
                    location=raw.get("location"),
                    message=raw.get("message"),
                    enabled=bool(raw.get("enabled", True)),
                )
            )
        except (TypeError, ValueError) as exc:
            raise RulesError(f"{where} ({raw['name']}): {exc}") from None
    return rules


def default_rules() -> RuleSet:
    """The rules shipped with sessionlens."""
    text = resources.files("sessionlens.ingestion").joinpath("default_rules.toml").read_text()
    return RuleSet(_parse(tomllib.loads(text), "default rules"))


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Default rules, with a user file's rules first and overrides applied."""
    base = default_rules()
    if path is None:
        return base
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RulesError(f"{path}: no such rules file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc})") from None
    user = _parse(data, str(path))
    overridden = {r.name for r in user}
    return RuleSet(user + [r for r in base.rules if r.name not in overridden])
