"""Changes: markers people wrote down, and changes inferred from the logs.

Written markers come from sessionlens JSON lines or CSV, Grafana annotations,
Honeycomb markers and Cloudflare audit logs (v1 Logpush fields and the v2
API shape). Inferred changes come from the lake: an application version
taking over on hosts (a rolling deploy is the set of those), a cookie format
first seen, and the edge worker's verdict or the cache status mix switching.
An inferred change that matches a written one is linked to it, not listed
twice.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import xxhash

from .errors import InputError
from .lake import Lake, now_iso

KINDS = ("deploy", "rollback", "config", "feature_flag", "cookie", "edge_worker", "cache", "session_store", "maintenance", "other")


@dataclass
class Change:
    """One change. ``at``/``end`` are aware UTC datetimes; ``scope`` is open."""

    id: str
    at: datetime
    kind: str = "other"
    label: str = ""
    end: datetime | None = None
    scope: dict = field(default_factory=dict)
    detail: str = ""
    origin: str = "manual"
    linked_to: str | None = None  # for an inferred change matching a written one

    def as_row(self) -> dict:
        row = asdict(self)
        row["scope"] = json.dumps(self.scope, sort_keys=True)
        return row

    def as_json(self) -> dict:
        d = asdict(self)
        d["at"] = iso(self.at)
        d["end"] = iso(self.end) if self.end else None
        return d


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value) -> datetime:
    """RFC 3339 text, or epoch seconds / milliseconds / nanoseconds."""
    if value is None or value == "":
        raise ValueError("no time")
    if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value)):
        x = float(value)
        x = x / 1e9 if abs(x) >= 1e16 else x / 1e3 if abs(x) >= 1e11 else x
        return datetime.fromtimestamp(x, timezone.utc)
    t = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


# Most specific first: an annotation tagged "edge_worker, deploy" is about the worker.
_KIND_PRIORITY = ("edge_worker", "cookie", "session_store", "cache", "feature_flag", "rollback", "maintenance",
                  "config", "deploy", "other")


def _kind(text: str | None, default: str = "other") -> str:
    """Maps a tag, type or action to one of KINDS."""
    t = (text or "").lower()
    for k in _KIND_PRIORITY:
        if k in t:
            return k
    if "rollback" in t or "revert" in t:
        return "rollback"
    if "flag" in t:
        return "feature_flag"
    if "worker" in t:
        return "edge_worker"
    if "cach" in t or "development mode" in t or "purge" in t:
        return "cache"
    if "release" in t or "deploy" in t:
        return "deploy"
    if "setting" in t or "config" in t:
        return "config"
    return default


# --- reading marker files ------------------------------------------------------


def detect_marker_format(path: Path) -> str | None:
    """Names a marker file's format from its content, or None."""
    try:
        text = path.read_text(errors="replace")[:200_000]
    except OSError:
        return None
    stripped = text.lstrip()
    first = stripped.splitlines()[0] if stripped else ""
    if first.startswith("id,") and ",at" in first:
        return "sessionlens-csv"
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("result"), list):
        return "cloudflare-audit-v2"
    if isinstance(whole, list) and whole and isinstance(whole[0], dict):
        if "time" in whole[0] and ("text" in whole[0] or "tags" in whole[0]):
            return "grafana"
        if "start_time" in whole[0]:
            return "honeycomb"
    try:
        obj = json.loads(first)
    except ValueError:
        return None
    if isinstance(obj, dict):
        if "id" in obj and "at" in obj:
            return "sessionlens-jsonl"
        if "When" in obj and ("ActionType" in obj or "ResourceType" in obj):
            return "cloudflare-audit-v1"
    return None


def read_markers(path: Path) -> tuple[list[Change], list[str]]:
    """Reads a marker file; returns (changes, problems with their line or index)."""
    fmt = detect_marker_format(path)
    if fmt is None:
        raise InputError(f"{path}: not a marker file sessionlens knows (sessionlens JSON lines/CSV, Grafana, Honeycomb, Cloudflare audit)")
    text = path.read_text(errors="replace")
    changes: list[Change] = []
    problems: list[str] = []

    def attempt(where: str, make):
        try:
            changes.append(make())
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"{path.name} {where}: {type(exc).__name__}: {exc}")

    if fmt == "sessionlens-jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                attempt(f"line {n}", lambda line=line: _from_sessionlens(json.loads(line), fmt))
    elif fmt == "sessionlens-csv":
        for n, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
            attempt(f"line {n}", lambda row=row: _from_sessionlens(row, fmt))
    elif fmt == "grafana":
        for n, a in enumerate(json.loads(text)):
            attempt(f"item {n}", lambda a=a: Change(
                id=f"grafana-{a['id']}", at=parse_time(a["time"]),
                end=parse_time(a["timeEnd"]) if a.get("timeEnd") and a.get("timeEnd") != a.get("time") else None,
                kind=_kind(" ".join(a.get("tags", [])) + " " + a.get("text", "")), label=a.get("text", ""),
                detail=", ".join(a.get("tags", [])), origin="grafana"))
    elif fmt == "honeycomb":
        for n, m in enumerate(json.loads(text)):
            attempt(f"item {n}", lambda m=m: Change(
                id=str(m.get("id") or f"honeycomb-{m['start_time']}"), at=parse_time(m["start_time"]),
                end=parse_time(m["end_time"]) if m.get("end_time") else None,
                kind=_kind(m.get("type"), "other"), label=m.get("message", ""), detail=m.get("url", ""),
                origin="honeycomb"))
    elif fmt == "cloudflare-audit-v2":
        for n, r in enumerate(json.loads(text)["result"]):
            attempt(f"result {n}", lambda r=r: _from_cf_v2(r))
    elif fmt == "cloudflare-audit-v1":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                attempt(f"line {n}", lambda line=line: _from_cf_v1(json.loads(line)))
    return changes, problems


def _from_sessionlens(d: dict, fmt: str) -> Change:
    scope = d.get("scope") or {}
    if isinstance(scope, str):
        scope = json.loads(scope) if scope.strip() else {}
    kind = d.get("kind") or "other"
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if not d.get("id"):
        raise ValueError("no id")
    return Change(id=str(d["id"]), at=parse_time(d["at"]), end=parse_time(d["end"]) if d.get("end") else None,
                  kind=kind, label=d.get("label") or "", scope=scope, detail=d.get("detail") or "", origin=fmt)


def _from_cf_v2(r: dict) -> Change:
    action = r.get("action")
    if isinstance(action, dict):
        when, what, desc = action.get("time"), action.get("type", ""), action.get("description", "")
    else:  # the older shape: "action": "zone.settings.change", "timestamp": ...
        when, what, desc = r.get("timestamp") or r.get("when"), str(action or ""), ""
    resource = r.get("resource") or (r.get("resources") or [{}])[0]
    product = " ".join(str(resource.get(k, "")) for k in ("product", "type", "resource_type"))
    rid = r.get("id") or "cf-audit-" + xxhash.xxh3_64_hexdigest(json.dumps(r, sort_keys=True).encode())[:10]
    return Change(id=str(rid), at=parse_time(when), kind=_kind(f"{product} {desc} {what}", "config"),
                  label=desc or what, detail=product.strip(), origin="cloudflare-audit",
                  scope={"zone": (r.get("zone") or {}).get("name")} if r.get("zone") else {})


def _from_cf_v1(d: dict) -> Change:
    return Change(id=str(d.get("ID") or "cf-audit-" + xxhash.xxh3_64_hexdigest(json.dumps(d, sort_keys=True).encode())[:10]),
                  at=parse_time(d["When"]), kind=_kind(f"{d.get('ResourceType', '')} {d.get('ActionType', '')}", "config"),
                  label=f"{d.get('ActionType', '')} {d.get('ResourceType', '')}".strip(), detail=json.dumps(d.get("Metadata") or {}),
                  origin="cloudflare-audit")


# --- storing -----------------------------------------------------------------------


def written_changes(lake: Lake) -> list[Change]:
    """The changes stored in the lake (imported or added), oldest first."""
    con = lake.connect()
    rel = con.sql('SELECT id, "at", "end", kind, label, scope, detail, origin FROM changes ORDER BY "at"')
    out = []
    for cid, at, end, kind, label, scope, detail, origin in rel.fetchall():
        out.append(Change(id=cid, at=at, end=end, kind=kind, label=label or "", scope=json.loads(scope or "{}"),
                          detail=detail or "", origin=origin or ""))
    return out


def store(lake: Lake, changes: list[Change], locked: bool = False) -> tuple[int, list[str]]:
    """Adds changes to the lake; ids already there are skipped. Returns (added, skipped ids).

    ``locked``: the caller holds the lake's write lock already (an ingest).
    """
    import contextlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    with contextlib.nullcontext() if locked else lake.writer():
        existing = {c.id for c in written_changes(lake)}
        new, skipped, seen = [], [], set()
        for c in changes:
            if c.id in existing or c.id in seen:
                skipped.append(c.id)
            else:
                seen.add(c.id)
                new.append(c)
        if not new:
            return 0, skipped
        rows = [c.as_row() for c in new]
        table = pa.Table.from_pylist(
            [{k: r[k] for k in ("id", "at", "end", "kind", "label", "scope", "detail", "origin")} for r in rows],
            schema=pa.schema([("id", pa.string()), ("at", pa.timestamp("us", tz="UTC")), ("end", pa.timestamp("us", tz="UTC")),
                              ("kind", pa.string()), ("label", pa.string()), ("scope", pa.string()),
                              ("detail", pa.string()), ("origin", pa.string())]),
        )
        name = xxhash.xxh3_64_hexdigest(("".join(sorted(c.id for c in new)) + now_iso()).encode())
        rel = Path("changes") / f"part-{name}.parquet"
        (lake.root / "changes").mkdir(exist_ok=True)
        tmp = lake.root / "_staging" / f"changes-{name}.parquet"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(lake.root / rel)
        manifest = lake.read_manifest()
        manifest.extra_parts.setdefault("changes", []).append(str(rel))
        lake.write_manifest(manifest)
    return len(new), skipped


def import_markers(lake_dir: str | Path, paths: list[str]) -> dict:
    """Imports marker files into a lake (created if missing)."""
    lake = Lake(lake_dir, create=True)
    changes, problems = [], []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"{p}: no such file")
        c, pr = read_markers(path)
        changes += c
        problems += pr
    added, skipped = store(lake, changes)
    return {"read": len(changes) + len(problems), "added": added, "skipped_existing": skipped, "rejected": problems}


def add_change(lake_dir: str | Path, at: str, kind: str, label: str, scope: list[str] | None = None,
               change_id: str | None = None, end: str | None = None, detail: str = "") -> Change:
    """Records one change by hand; ``scope`` items are key=value (hosts=web01,web02)."""
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}")
    try:
        when = parse_time(at)
        until = parse_time(end) if end else None
    except ValueError as exc:
        raise InputError(f"unreadable time: {exc}") from None
    sc: dict = {}
    for item in scope or []:
        if "=" not in item:
            raise InputError(f"--scope {item!r} is not key=value")
        k, v = item.split("=", 1)
        k = {"host": "hosts", "path": "paths"}.get(k, k)
        sc[k] = [x for x in v.split(",") if x] if k in ("hosts", "paths") else v
    cid = change_id or f"manual-{when:%Y%m%dT%H%M}-{kind}"
    change = Change(id=cid, at=when, end=until, kind=kind, label=label, scope=sc, detail=detail, origin="manual")
    added, _ = store(Lake(lake_dir, create=True), [change])
    if not added:
        raise InputError(f"a change with id {cid} exists already")
    return change


# --- inferring -------------------------------------------------------------------

ROLLOUT_GAP = timedelta(minutes=20)  # host switches further apart are separate rollouts
NEW_AFTER = timedelta(hours=1)  # a format seen within the first hour of data was always there
MIX_JUMP = 0.3  # a verdict's share moving this much between 5-minute windows is a switch


def infer_changes(con, since: datetime, until: datetime) -> list[Change]:
    """Changes nobody wrote down, read from the lake's requests."""
    from . import queries

    params = {"since": since, "until": until}
    out: list[Change] = []

    # versions taking over host by host; a rolling deploy is one change
    transitions = queries.run(con, "version_transitions", params)
    by_version: dict[str, list[dict]] = {}
    for row in transitions.iter_rows(named=True):
        by_version.setdefault(row["to_version"], []).append(row)
    earlier_versions = set(transitions["from_version"].to_list()) if transitions.height else set()
    for version, rows in by_version.items():
        group: list[dict] = []
        for row in rows + [None]:
            if group and (row is None or row["at"] - group[-1]["at"] > ROLLOUT_GAP):
                start, end = group[0]["at"], group[-1]["at"]
                hosts = sorted({r["host"] for r in group})
                came_from = sorted({r["from_version"] for r in group})
                back = version in earlier_versions and any(
                    t["from_version"] == version and t["at"] < start for t in transitions.iter_rows(named=True))
                out.append(Change(
                    id=f"inferred:version:{version}@{start:%H%M}", at=start, end=end if end > start else None,
                    kind="rollback" if back else "deploy",
                    label=f"{version} took over on {len(hosts)} host(s) (from {', '.join(came_from)})",
                    scope={"hosts": hosts, "version": version, "from_versions": came_from}, origin="inferred"))
                group = []
            if row is not None:
                group.append(row)

    formats = queries.run(con, "cookie_formats_seen", params)
    for row in formats.iter_rows(named=True):
        if row["first_seen"] - since >= NEW_AFTER and row["requests"] >= 20:
            out.append(Change(
                id=f"inferred:cookie:{row['cookie_format']}", at=row["first_seen"], kind="cookie",
                label=f"session cookies in a new format: {row['cookie_format']}",
                scope={"cookie_format": row["cookie_format"]}, origin="inferred"))

    for dimension, kind in (("edge_worker", "edge_worker"), ("cache_status", "cache")):
        out += _mix_switches(queries.run(con, "mix_by_window", params, dimension=dimension), dimension, kind)
    return sorted(out, key=lambda c: c.at)


def _mix_switches(mix, dimension: str, kind: str) -> list[Change]:
    """Windows where one value's share jumps and stays."""
    if mix.height == 0:
        return []
    wide = mix.pivot(on="value", index="window_start", values="share").sort("window_start").fill_null(0.0)
    values = [c for c in wide.columns if c != "window_start" and c != "(none)"]
    if wide.height < 3 or not values:
        return []
    out = []
    times = wide["window_start"].to_list()
    for v in values:
        share = wide[v].to_list()
        for i in range(1, len(share) - 1):
            jump = share[i] - share[i - 1]
            # the new level holds in the next window too
            if abs(jump) >= MIX_JUMP and abs(share[i + 1] - share[i - 1]) >= MIX_JUMP * 0.8:
                direction = "rose" if jump > 0 else "fell"
                out.append(Change(
                    id=f"inferred:{dimension}:{v}:{direction}@{times[i]:%m%d%H%M}", at=times[i], kind=kind,
                    label=f"{dimension} '{v}' {direction} from {share[i - 1]:.0%} to {share[i]:.0%} of requests",
                    scope={dimension: v}, origin="inferred"))
    return out


def link(inferred: list[Change], written: list[Change]) -> None:
    """Marks inferred changes that a written one already describes (the nearest in time)."""
    for c in inferred:
        for w in sorted(written, key=lambda w: abs((w.at - c.at).total_seconds())):
            w_end = (w.end or w.at) + timedelta(minutes=10)
            near = w.at - timedelta(minutes=5) <= c.at <= w_end
            if c.kind in ("deploy", "rollback") and w.kind in ("deploy", "rollback"):
                version = c.scope.get("version", "")
                named = version and (version in w.label or version in w.detail or version in w.id)
                if near and (named or w.kind == c.kind):
                    c.linked_to = w.id
            elif c.kind == "cookie" and w.kind in ("deploy", "cookie", "config") and near:
                c.linked_to = w.id
            elif c.kind == w.kind and c.kind in ("edge_worker", "cache") and abs((c.at - w.at).total_seconds()) <= 600:
                c.linked_to = w.id
            if c.linked_to:
                break


def all_changes(lake: Lake, since: datetime | None = None, until: datetime | None = None, con=None) -> list[Change]:
    """Written and inferred changes; inferred ones carry ``linked_to`` when matched."""
    con = con or lake.connect()
    if since is None or until is None:
        lo, hi = con.sql("SELECT min(ts), max(ts) FROM requests").fetchall()[0]
        if lo is None:
            return written_changes(lake)
        since = since or lo
        until = until or hi + timedelta(seconds=1)
    written = written_changes(lake)
    inferred = infer_changes(con, since, until)
    link(inferred, written)
    return sorted(written + inferred, key=lambda c: c.at)
