"""Changes: every marker format, add and list, inference and linking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionlens import Lake, ingest
from sessionlens.changes.infer import all_changes
from sessionlens.changes.markers import detect_marker_format, read_markers
from sessionlens.changes.model import Change
from sessionlens.changes.store import import_markers, written_changes
from sessionlens.cli import cli
from sessionlens.errors import InputError
from sessionlens.samples import generate

from .conftest import REAL, needs_shared


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    truth = generate("archive", base / "inc", seed=5, scale=0.5)
    ingest(base / "lake", [str(base / "inc" / "logs")])
    return base, truth


def test_marker_formats_of_the_samples(tmp_path):
    for name in ("archive", "geocaching", "mfa"):
        generate(name, tmp_path / name, seed=1, scale=0.05)
    found = {p.name: detect_marker_format(p) for p in tmp_path.glob("*/markers/*")}
    assert found == {
        "deploys.jsonl": "sessionlens-jsonl", "rollback.csv": "sessionlens-csv", "cloudflare_audit.json": "cloudflare-audit-v2",
        "grafana_annotations.json": "grafana", "changes.jsonl": "sessionlens-jsonl", "honeycomb_markers.json": "honeycomb",
        "maintenance.csv": "sessionlens-csv",
    }
    changes, problems = read_markers(tmp_path / "archive" / "markers" / "cloudflare_audit.json")
    assert not problems and {c.kind for c in changes} == {"cache", "edge_worker"}
    deploy = read_markers(tmp_path / "archive" / "markers" / "deploys.jsonl")[0][0]
    assert deploy.id == "deploy-1041" and deploy.scope["hosts"][0] == "web01" and deploy.end > deploy.at


@needs_shared
def test_cloudflare_audit_examples_from_the_docs():
    full, problems = read_markers(REAL / "cloudflare" / "audit_logs_v2_example_response.json")
    assert not problems and len(full) == 1 and full[0].at.isoformat().startswith("2024-04-26T17:31:07")
    short, problems = read_markers(REAL / "cloudflare" / "audit_logs_v2_short_example.json")
    assert not problems and short[0].label == "zone.settings.change" and short[0].kind == "config"


def test_cloudflare_audit_v1_lines(tmp_path):
    f = tmp_path / "audit.ndjson"
    f.write_text(json.dumps({"When": "2023-09-19T16:40:00Z", "ActionType": "update", "ResourceType": "worker_route",
                             "ID": "a1", "Metadata": {"enabled": False}}) + "\n")
    (c,), _ = read_markers(f)
    assert (c.id, c.kind) == ("a1", "edge_worker")


def test_import_is_idempotent_and_reports_bad_records(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"id": "d1", "at": "2023-09-19T16:09:00Z", "kind": "deploy", "label": "x"}\n'
                 '{"id": "d2", "at": "yesterday", "kind": "deploy"}\n'
                 '{"id": "d3", "at": "2023-09-19T16:10:00Z", "kind": "teleport"}\n')
    first = import_markers(tmp_path / "lake", [str(f)])
    assert first.added == 1 and len(first.rejected) == 2
    assert "line 2" in first.rejected[0] and "teleport" in first.rejected[1]
    assert first.to_json() == {"read": 3, "added": 1, "skipped_existing": [], "rejected": first.rejected}
    again = import_markers(tmp_path / "lake", [str(f)])
    assert again.added == 0 and again.skipped_existing == ["d1"]
    assert [c.id for c in written_changes(Lake(tmp_path / "lake"))] == ["d1"]


def test_cli_add_and_list(tmp_path):
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    r = runner.invoke(cli, ["changes", "add", "--lake", lake, "--at", "2023-09-19T16:09:00Z", "--kind", "deploy",
                            "--label", "canary v2", "--scope", "host=web07", "--id", "canary-1"])
    assert r.exit_code == 0 and "canary-1" in r.output
    dup = runner.invoke(cli, ["changes", "add", "--lake", lake, "--at", "2023-09-19T16:09:00Z", "--kind", "deploy",
                              "--label", "again", "--id", "canary-1"])
    assert dup.exit_code == 1 and "exists already" in dup.output
    bad = runner.invoke(cli, ["changes", "add", "--lake", lake, "--at", "2023-09-19T16:09:00Z", "--kind", "nope", "--label", "x"])
    assert bad.exit_code == 1 and "--kind must be one of" in bad.output
    listed = runner.invoke(cli, ["changes", "list", "--lake", lake, "--json"])
    (c,) = json.loads(listed.output)
    assert c["id"] == "canary-1" and c["scope"] == {"hosts": ["web07"]} and c["at"] == "2023-09-19T16:09:00Z"


def test_inferred_changes_are_linked_to_written_ones(archive):
    base, _ = archive
    import_markers(base / "lake", [str(p) for p in sorted((base / "inc" / "markers").iterdir())])
    changes = {c.id: c for c in all_changes(Lake(base / "lake"))}
    deploy = changes["inferred:version:v1.41.0@1609"]
    assert deploy.kind == "deploy" and len(deploy.scope["hosts"]) == 8 and deploy.linked_to == "deploy-1041"
    assert deploy.end - deploy.at >= __import__("datetime").timedelta(minutes=15)  # a rolling deploy, host by host
    assert changes["inferred:cookie:rails-encrypted-gcm"].linked_to == "deploy-1041"
    rollback = next(c for c in changes.values() if c.id.startswith("inferred:version:v1.40.2"))
    assert rollback.kind == "rollback" and rollback.linked_to == "rollback-1042" and "web04" not in rollback.scope["hosts"]
    worker_off = [c for c in changes.values() if c.id.startswith("inferred:edge_worker:off:rose")]
    assert {c.linked_to for c in worker_off} == {"cf-audit-2002", "cf-audit-2005"}


def test_inference_without_markers(archive):
    base, _ = archive
    fresh = base / "fresh"
    ingest(fresh, [str(base / "inc" / "logs")])
    inferred = [c for c in all_changes(Lake(fresh)) if c.origin == "inferred"]
    assert any(c.id.startswith("inferred:version:v1.41.0") for c in inferred)
    assert all(c.linked_to is None for c in inferred)


def test_ingest_routes_marker_files_to_changes(tmp_path):
    generate("geocaching", tmp_path / "inc", seed=2, scale=0.05)
    summary = ingest(tmp_path / "lake", [str(tmp_path / "inc")])  # logs and markers together
    formats = {f.format for f in summary.files}
    assert {"markers:sessionlens-jsonl", "markers:honeycomb"} <= formats
    assert {c.id for c in written_changes(Lake(tmp_path / "lake"))} == {"config-apt-upgrade", "hc-301", "hc-302"}
    again = ingest(tmp_path / "lake", [str(tmp_path / "inc")])
    assert all(f.status == "skipped" for f in again.files if "/markers/" in f.path)


def test_not_a_marker_file(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("hello\n")
    with pytest.raises(InputError):
        read_markers(f)


# --- records checked one by one (issue "Data safety", item 5) ----------------------------

GOOD = '{"id": "d1", "at": "2023-09-19T16:09:00Z", "kind": "deploy", "label": "v2", "scope": {"hosts": ["web01"]}}\n'


def test_one_bad_record_does_not_sink_the_file(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text(GOOD
                 + '{"id": "d2", "at": 1e308}\n'
                 + '{"id": "d3", "at": "2023-09-19T16:10:00Z", "scope": [1, 2]}\n'
                 + 'not json at all\n'
                 + '{"id": "d1", "at": "2023-09-19T16:11:00Z"}\n'
                 + '{"id": 42, "at": 1695139800, "label": {"a": [1]}, "detail": 3.5, "kind": " Feature-Flag "}\n'
                 + '{"id": "d5", "at": "2023-09-19T16:10:00Z", "end": "2023-09-19T16:00:00Z"}\n'
                 + '{"id": "d6", "at": NaN}\n{"id": "d7", "at": -5}\n{"id": "d8", "at": true}\n'
                 + '{"id": "inferred:x", "at": "2023-09-19T16:10:00Z"}\n'
                 + '{"id": "d9", "at": "2023-09-19T16:10:00Z", "scope": {"x": {"nested": 1}}}\n')
    changes, problems = read_markers(f)
    assert [c.id for c in changes] == ["d1", "42"]
    assert changes[1].label == '{"a":[1]}' and changes[1].detail == "3.5" and changes[1].kind == "feature_flag"
    assert len(changes) + len(problems) == 12
    by_line = {p.split(":")[0]: p for p in problems}
    assert "outside 1990-01-01" in by_line["m.jsonl line 2"]
    assert "scope: must be an object" in by_line["m.jsonl line 3"]
    assert "not a JSON line" in by_line["m.jsonl line 4"]
    assert "duplicate id" in by_line["m.jsonl line 5"] and "first at line 1" in by_line["m.jsonl line 5"]
    assert "before the start" in by_line["m.jsonl line 7"]
    assert "not a finite number" in by_line["m.jsonl line 8"]
    assert "outside" in by_line["m.jsonl line 9"] and "boolean" in by_line["m.jsonl line 10"]
    assert "inferred" in by_line["m.jsonl line 11"] and "object is not a string" in by_line["m.jsonl line 12"]


def test_times_by_format_and_window():
    from sessionlens.changes.validate import RecordError, parse_time

    assert parse_time("2023-09-19T18:09:00+02:00").isoformat() == "2023-09-19T16:09:00+00:00"
    assert parse_time("2023-09-19 16:09:00") == parse_time(1695139740) == parse_time("1695139740")
    assert parse_time(1695139740000) == parse_time(1695139740, "s") == parse_time(1695139740000, "ms")
    assert parse_time(1695139740 * 10 ** 9) == parse_time(1695139740)
    for bad in (1e308, -1e308, float("nan"), float("inf"), -1695139740, 0, True, [1], {"a": 1}, "yesterday",
                "9999-12-31T00:00:00Z", "1989-12-31T23:59:59Z", "0001-01-01T00:00:00+05:00", 10 ** 400, "1" * 45):
        with pytest.raises(RecordError):
            parse_time(bad)
    with pytest.raises(RecordError, match="epoch milliseconds"):
        parse_time(1695139740, "ms")  # Grafana counts milliseconds: seconds there are 1970


def test_scope_rules():
    from sessionlens.changes.validate import RecordError, scope, scope_of_stored

    assert scope(None) == scope("") == scope("null") == {}
    assert scope({"host": "web01,web02", "hosts": ["web02", 3], "percent": 5, "version": "v2", "x": None}) == {
        "hosts": ["web01", "web02", "3"], "percent": 5, "version": "v2"}
    assert scope('{"paths": "/login"}') == {"paths": ["/login"]}
    for bad in ([1, 2], "web01", 5, {"x": {"y": 1}}, {"x": [[1]]}, {"x": True}, {"x": float("nan")}, {"": 1}):
        with pytest.raises(RecordError, match="scope"):
            scope(bad)
    assert scope_of_stored("[1, 2]") == scope_of_stored("not json") == scope_of_stored(None) == {}
    assert scope_of_stored('{"hosts": ["a"]}') == {"hosts": ["a"]}


def test_formats_check_records_too(tmp_path):
    g = tmp_path / "grafana.json"
    items = [{"id": 1, "time": 1695139740000, "tags": ["deploy"], "text": "a"},
             {"id": 2, "time": 1695139740, "text": "seconds, not ms"},
             [1],
             {"id": 1, "time": 1695139800000, "text": "same id"},
             {"id": 3, "time": 1695139740000, "timeEnd": 1695139740000, "tags": "cache", "text": 7}]
    g.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n")  # one item a line, from line 2
    changes, problems = read_markers(g)
    assert [c.id for c in changes] == ["grafana-1", "grafana-3"]
    assert changes[1].end is None and changes[1].label == "7" and changes[1].kind == "cache"
    assert problems[0].startswith("grafana.json item 1 (line 3): time:") and "epoch milliseconds" in problems[0]
    assert "item 2 (line 4)" in problems[1] and "duplicate id" in problems[2]
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps({"result": [{"id": "a", "action": {"time": "2023-09-19T16:00:00Z", "type": "update"},
                                          "zone": "not an object", "resource": [1]},
                                         {"id": {"x": 1}, "action": {"time": "2023-09-19T16:00:00Z"}},
                                         {"id": "c", "action": "zone.settings.change", "timestamp": 1e308}]}))
    changes, problems = read_markers(cf)
    assert [c.id for c in changes] == ["a"] and changes[0].scope == {}
    assert "id: must be a string or a number" in problems[0] and "outside" in problems[1]
    csv_file = tmp_path / "m.csv"
    csv_file.write_text('id,at,end,kind,label,scope,detail\nr1,2023-09-19T16:09:00Z,,rollback,x,"{""hosts"": ""a""}",\n'
                        'r2,2023-09-19T16:09:00Z,,rollback,x,[1],\nr3,2023-09-19T16:09:00Z,,,,,,,extra\n')
    changes, problems = read_markers(csv_file)
    assert [(c.id, c.scope) for c in changes] == [("r1", {"hosts": ["a"]})]
    assert problems == ["m.csv line 3: scope: must be an object ({\"hosts\": [...]}), not a list",
                        "m.csv line 4: 9 fields, the header has 7"]


def test_ingest_keeps_the_good_records_stores_the_rejects_and_goes_on(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a-markers.jsonl").write_bytes(
        GOOD.encode() + b'{"id": "d2", "at": 1e308, "detail": "session=abcdef0123456789abcdef"}\n'
        + b'\xff\xfe{"id": "bad bytes"\n' + b'{"id": "d3", "at": "2023-09-19T16:10:00Z", "scope": [1, 2]}\n')
    (inbox / "b-access.log").write_text("".join(
        f'203.0.113.{i} - - [19/Sep/2023:16:{i:02d}:00 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl"\n' for i in range(30)))
    summary = ingest(tmp_path / "lake", [str(inbox)])
    markers, log = summary.files
    assert markers.format == "markers:sessionlens-jsonl" and (markers.lines_read, markers.stored, markers.rejected) == (4, 1, 3)
    assert log.status == "ingested" and log.stored == 30
    assert summary.rejected_by_reason == {"bad marker at": 1, "bad marker record": 1, "bad marker scope": 1}
    lake = Lake(tmp_path / "lake")
    rejects = lake.sql("SELECT line_no, lines, reason, excerpt, source_file FROM rejects ORDER BY line_no").fetchall()
    assert [r[:2] for r in rejects] == [(2, 1), (3, 1), (4, 1)]
    assert rejects[0][2].startswith("marker at:") and "abcdef0123456789" not in rejects[0][3]  # redacted
    assert rejects[2][2] == 'marker scope: must be an object ({"hosts": [...]}), not a list'
    assert lake.sql("SELECT sum(lines) FROM rejects").fetchall()[0][0] == summary.rejected == 3
    assert [c.id for c in written_changes(lake)] == ["d1"]


def _lake_with_spike(base, archive):
    """A copy of the archive lake (it has a spike) to add changes to."""
    import shutil

    lake_dir = base / "copy"
    shutil.copytree(archive[0] / "lake", lake_dir)
    return lake_dir


def test_stored_scopes_of_any_shape_crash_nothing(archive, tmp_path):
    """A lake written before records were checked may hold a list as a scope."""
    from datetime import timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sessionlens.analysis.pipeline import analyze
    from sessionlens.changes.store import store
    from sessionlens.report import write_report

    lake_dir = _lake_with_spike(tmp_path, archive)
    onset = analyze(lake_dir).spikes[0].spike.onset
    store(Lake(lake_dir), [
        Change(id=f"old-{i}", at=onset - timedelta(minutes=i + 1), kind="deploy", scope=scope)
        for i, scope in enumerate([[1, 2], {"hosts": 5}, {"version": [{"a": 1}], "hosts": "web01"},
                                   {"cookie_format": True, "edge_worker": [None, 3]}, "text"])])
    # and a part written by hand: scope not JSON at all, an end before the start
    lake = Lake(lake_dir)
    part = lake_dir / "changes" / "part-handmade.parquet"
    pq.write_table(pa.table({"id": ["old-hand"], "at": pa.array([onset - timedelta(minutes=2)], pa.timestamp("us", "UTC")),
                             "end": pa.array([onset - timedelta(minutes=9)], pa.timestamp("us", "UTC")),
                             "kind": ["config"], "label": [None], "scope": ["{not json"], "detail": [None],
                             "origin": ["x"]}), part)
    manifest = lake.read_manifest()
    manifest.extra_parts["changes"].append("changes/part-handmade.parquet")
    lake.write_manifest(manifest)

    stored = {c.id: c for c in written_changes(lake)}
    assert stored["old-0"].scope == {} and stored["old-hand"].scope == {} and stored["old-hand"].end is None
    result = analyze(lake_dir)
    suspects = {x.change.id for r in result.spikes for x in r.suspects}
    assert {"old-0", "old-1", "old-2", "old-3", "old-hand"} <= suspects
    write_report(lake_dir, tmp_path / "r.html", analysis=result)
    write_report(lake_dir, tmp_path / "r.md", analysis=result)
    listed = CliRunner().invoke(cli, ["changes", "list", "--lake", str(lake_dir), "--json"])
    assert listed.exit_code == 0 and "old-hand" in listed.output


def test_remove_changes(tmp_path):
    from sessionlens.changes.store import remove_changes

    lake_dir = tmp_path / "lake"
    f = tmp_path / "m.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "at": f"2023-09-19T16:0{i}:00Z"}) + "\n" for i in range(4)))
    import_markers(lake_dir, [str(f)])
    runner = CliRunner()
    runner.invoke(cli, ["changes", "add", "--lake", str(lake_dir), "--at", "2023-09-19T17:00:00Z", "--kind", "config",
                        "--label", "x", "--id", "by-hand"])
    before = Lake(lake_dir).read_manifest().extra_parts["changes"]
    assert remove_changes(lake_dir, ["d1", "by-hand", "d1"]) == ["d1", "by-hand"]
    assert [c.id for c in written_changes(Lake(lake_dir))] == ["d0", "d2", "d3"]
    after = Lake(lake_dir).read_manifest().extra_parts["changes"]
    assert not set(before) & set(after) and len(after) == 1  # the emptied file is gone, the other rewritten
    assert sorted(p.name for p in (lake_dir / "changes").iterdir()) == sorted(Path(p).name for p in after)

    with pytest.raises(InputError, match="no written change has the id nope.*nothing was removed"):
        remove_changes(lake_dir, ["d2", "nope"])
    with pytest.raises(InputError, match="inferred change.*cannot be removed"):
        remove_changes(lake_dir, ["inferred:version:v2@1600"])
    assert [c.id for c in written_changes(Lake(lake_dir))] == ["d0", "d2", "d3"]  # all or nothing

    ok = runner.invoke(cli, ["changes", "remove", "--lake", str(lake_dir), "d0", "d3"])
    assert ok.exit_code == 0 and "removed 2 change(s): d0, d3" in ok.output
    bad = runner.invoke(cli, ["changes", "remove", "--lake", str(lake_dir), "d0"])
    assert bad.exit_code == 1 and "no written change has the id d0" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(cli, ["changes", "remove", "--lake", str(tmp_path / "nolake"), "d0"])
    assert missing.exit_code == 1 and "no lake here" in missing.output
    assert [c.id for c in written_changes(Lake(lake_dir))] == ["d2"]


def test_add_checks_its_values_like_a_marker(tmp_path):
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    for args, message in ((["--at", "1e308"], "--at"), (["--at", "2023-09-19T16:09:00Z", "--end", "2023-09-19T16:00:00Z"], "--end"),
                          (["--at", "2023-09-19T16:09:00Z", "--id", "inferred:x"], "inferred")):
        r = runner.invoke(cli, ["changes", "add", "--lake", lake, "--kind", "deploy", "--label", "x", *args])
        assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output, r.output


def test_big_exports_are_recognised_by_their_first_item(tmp_path):
    """Detection reads a file's head; an export bigger than that is told by its first item."""
    g = tmp_path / "grafana.json"
    g.write_text(json.dumps([{"id": i, "time": 1695139740000 + i, "text": "x" * 100, "tags": ["deploy"]} for i in range(3000)],
                            indent=2))
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps({"errors": [], "result": [{"id": str(i), "action": {"time": "2023-09-19T16:00:00Z",
                                                                                  "type": "x" * 100}} for i in range(3000)]}))
    assert g.stat().st_size > 200_000 and cf.stat().st_size > 200_000
    assert detect_marker_format(g) == "grafana" and len(read_markers(g)[0]) == 3000
    assert detect_marker_format(cf) == "cloudflare-audit-v2" and len(read_markers(cf)[0]) == 3000
    broken = tmp_path / "broken.json"
    broken.write_text('{"result": [1, 2]}\n' + "x" * 300_000)
    with pytest.raises(InputError, match="not valid JSON"):
        read_markers(broken)
