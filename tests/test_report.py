"""Reports: self-contained HTML, Markdown with PNGs, JSON; hostile log text stays text."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from sessionlens import ingest
from sessionlens.changes import import_markers
from sessionlens.cli import cli
from sessionlens.samples import generate

EVIL = '<script>alert("owned")</script>'


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    generate("archive", base / "inc", seed=7, scale=0.6)
    # a hostile request and a hostile marker label
    with open(base / "inc" / "logs" / "web01.access.log", "a") as fh:
        fh.write('203.0.113.66 - - [19/Sep/2023:16:20:00 +0000] "GET /works/1?q=%3Cscript%3E HTTP/1.1" 302 0 '
                 f'"javascript:alert(1)" "{EVIL.replace(chr(34), "")}" 0.01 web01 v1.40.2 "-" "on" "-" "-" '
                 '"/users/login?reason=expired"\n')
    ingest(base / "lake", [str(base / "inc" / "logs")])
    markers = [str(p) for p in sorted((base / "inc" / "markers").iterdir())]
    evil_marker = base / "evil.jsonl"
    evil_marker.write_text(json.dumps({"id": "evil-1", "at": "2023-09-19T16:30:00Z", "kind": "config",
                                       "label": EVIL + ' <a href="javascript:alert(2)">x</a>'}) + "\n")
    import_markers(base / "lake", markers + [str(evil_marker)])
    return base


def test_html_is_self_contained_and_escapes_log_text(lake, tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "deploy-1041" in html and "Session errors rose" in html
    # offline: no script or stylesheet from anywhere else
    assert not re.search(r'<script[^>]+src=|<link[^>]+href=|https?://cdn', html, re.I)
    # the hostile label is shown as text, never as markup
    assert EVIL not in html and "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    # only our own two script elements exist
    assert len(re.findall(r"<script>", html)) == 2
    assert html.count("vegaEmbed('#chart-") >= 2


def test_markdown_with_png_charts(lake, tmp_path):
    out = tmp_path / "post.md"
    result = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    assert result.exit_code == 0
    md = out.read_text()
    pngs = re.findall(r"!\[\w+\]\(([^)]+\.png)\)", md)
    assert pngs and all((tmp_path / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert "deploy-1041" in md


def test_json_report_equals_analyze(lake, tmp_path):
    out = tmp_path / "a.json"
    CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    direct = CliRunner().invoke(cli, ["analyze", "--lake", str(lake / "lake"), "--json"])
    assert json.loads(out.read_text()) == json.loads(direct.output)


def test_bad_format(lake, tmp_path):
    r = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "--format must be one of" in r.output


def test_demo_writes_the_archive_report(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--scale", "0.3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "report-archive.html").exists()
    flat = "".join(result.output.split())  # rich wraps long lines
    assert "deploy-1041" in flat and "report-archive.html" in flat
