"""Changes: every marker format, add and list, inference and linking."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sessionlens import Lake, ingest
from sessionlens.changes import all_changes, detect_marker_format, import_markers, read_markers, written_changes
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
    assert first["added"] == 1 and len(first["rejected"]) == 2
    assert "line 2" in first["rejected"][0] and "teleport" in first["rejected"][1]
    again = import_markers(tmp_path / "lake", [str(f)])
    assert again["added"] == 0 and again["skipped_existing"] == ["d1"]
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
