"""Reports: self-contained HTML, Markdown with PNGs, JSON; hostile log text stays text."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from sessionlens import ingest
from sessionlens.changes.store import import_markers
from sessionlens.cli import cli
from sessionlens.samples import generate

EVIL = '<script>alert("owned")</script>'
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"
SCRIPT = "<script>alert(1)</script>"
# what must never reach a Markdown file as it is
RAW = (SCRIPT, IMG, LINK, "<script", "<img", "[click]")  # "](javascript:" unescaped: see _assert_inert


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    generate("archive", base / "inc", seed=7, scale=0.6)
    # a hostile request and a hostile marker label
    with open(base / "inc" / "logs" / "web01.access.log", "a") as fh:
        fh.write('203.0.113.66 - - [19/Sep/2023:16:20:00 +0000] "GET /works/1?q=%3Cscript%3E HTTP/1.1" 302 0 '
                 f'"javascript:alert(1)" "{EVIL.replace(chr(34), "")}" 0.01 web01 v1.40.2 "-" "on" "-" "-" '
                 '"/users/login?reason=expired"\n')
        # hostile text in the path and the user agent, as a log line brings it
        fh.write(f'203.0.113.67 - - [19/Sep/2023:16:21:00 +0000] '
                 f'"GET /works/{SCRIPT}{LINK}{IMG.replace(" ", "")} HTTP/1.1" '
                 f'302 0 "-" "{SCRIPT} {IMG} {LINK}" 0.01 web01 v1.40.2 "-" "on" "-" "-" '
                 '"/users/login?reason=expired"\n')
    ingest(base / "lake", [str(base / "inc" / "logs")])
    markers = [str(p) for p in sorted((base / "inc" / "markers").iterdir())]
    evil_marker = base / "evil.jsonl"
    evil_marker.write_text(json.dumps({"id": "evil-1", "at": "2023-09-19T16:30:00Z", "kind": "config",
                                       "label": EVIL + ' <a href="javascript:alert(2)">x</a>',
                                       "detail": f"{IMG} {LINK}"}) + "\n")
    evil_marker.write_text(evil_marker.read_text() + json.dumps(
        {"id": "evil-2", "at": "2023-09-19T16:35:00Z", "kind": "config", "label": f"{SCRIPT} {IMG} {LINK}"}) + "\n")
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
    assert EVIL not in html and "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html  # Jinja2's autoescape
    assert 'href="javascript:' not in html
    # only our own two script elements exist
    assert len(re.findall(r"<script>", html)) == 2
    assert html.count("vegaEmbed('#chart-") >= 2


def test_html_keeps_a_script_breaking_change_as_text(lake):
    """A change id and label that try to end the script element (the chart specs carry the id) stay text."""
    from sessionlens import Lake
    from sessionlens.analysis.pipeline import analyze
    from sessionlens.lake.engine import DuckDBEngine
    from sessionlens.report.html import render_html

    breaker = f"</script><script>alert(1)</script>{IMG}"
    analysis = analyze(lake / "lake")
    change = analysis.spikes[0].suspects[0].change
    change.id, change.label = breaker, f"label {breaker}"
    html = render_html(DuckDBEngine(Lake(lake / "lake").connect()), analysis)
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert breaker not in html and not re.search(r"<img\b", markup)
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # in the charts' JSON, < and > are escaped: the payload cannot close the script element
    embeds = html.rsplit("<script>", 1)[1]
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in embeds
    assert len(re.findall(r"<script>", html)) == 2 and html.count("</script>") == 2


def test_markdown_with_png_charts(lake, tmp_path):
    out = tmp_path / "post.md"
    result = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    assert result.exit_code == 0
    md = out.read_text()
    pngs = re.findall(r"!\[\w+\]\(([^)]+\.png)\)", md)
    assert pngs and all((tmp_path / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert "deploy-1041" in md


def _assert_inert(md: str) -> None:
    for raw in RAW:
        assert raw not in md, raw
    assert not re.search(r"<(script|img|a)\b", md, re.I)
    assert not re.search(r"(?<!\\)\]\(javascript:", md)


def test_markdown_escapes_log_text(lake, tmp_path):
    out = tmp_path / "post.md"
    result = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    _assert_inert(md)
    # the hostile marker labels are shown, as text: HTML-escaped, link syntax backslash-escaped
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" not in md  # quotes need no escaping in Markdown
    assert '&lt;script&gt;alert("owned")&lt;/script&gt; &lt;a href="javascript:alert(2)"&gt;x&lt;/a&gt;' in md
    assert ("&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; "
            "\\[click\\](javascript:alert(1))") in md
    # our own images still are images
    assert re.search(r"^!\[timeline\]\([^)]+\.png\)$", md, re.M)


def test_markdown_escapes_every_log_derived_field(lake, tmp_path):
    """Paths, user agents and hosts reach the Markdown through evidence, notes and anomalies."""
    from sessionlens import Lake
    from sessionlens.analysis.anomalies.result import SessionSharingAnomaly
    from sessionlens.analysis.pipeline import analyze
    from sessionlens.lake.engine import DuckDBEngine
    from sessionlens.report.markdown import render_markdown

    analysis = analyze(lake / "lake")
    spike = analysis.spikes[0]
    hostile = f"{SCRIPT} {IMG} {LINK} `code` *bold* a|b"
    spike.notes.append(f"path=/works/{hostile}")
    spike.explained_by = hostile
    spike.suspects[0].evidence.append(f"errors concentrated where user_agent={hostile}")
    spike.suspects[0].change.label = hostile
    spike.suspects[0].change.id = hostile
    analysis.anomalies.append(SessionSharingAnomaly(
        start=datetime(2023, 9, 19, 16, tzinfo=timezone.utc), end=datetime(2023, 9, 19, 17, tzinfo=timezone.utc),
        sessions=1, users=0, users_estimated=False, clients=0, explained_by=hostile,
        evidence=[f"host={hostile}", hostile]))
    md = render_markdown(DuckDBEngine(Lake(lake / "lake").connect()), analysis, tmp_path / "x.md")
    _assert_inert(md)
    assert "`code`" not in md and "*bold*" not in md
    # table rows keep their five columns: a pipe from a log is escaped
    rows = [line for line in md.splitlines() if line.startswith("| **")]
    assert rows and all(len(re.split(r"(?<!\\)\|", row)) == 7 for row in rows)


@pytest.mark.parametrize("text, expected", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
    ("![x](http://evil/p.png)", "!\\[x\\](http://evil/p.png)"),
    ("a & b", "a &amp; b"),
    ("<http://evil>", "&lt;http://evil&gt;"),
    ("\\[x]", "\\\\\\[x\\]"),
    ("two\nlines", "two lines"),
    ("a|b `c` *d* _e_ ~f~", "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\~f\\~"),
])
def test_md_text(text, expected):
    from sessionlens.report.markdown import md_text

    assert md_text(text) == expected


def test_json_report_equals_analyze(lake, tmp_path):
    out = tmp_path / "a.json"
    CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(out)])
    direct = CliRunner().invoke(cli, ["analyze", "--lake", str(lake / "lake"), "--json"])
    assert json.loads(out.read_text()) == json.loads(direct.output)


def test_bad_format(lake, tmp_path):
    r = CliRunner().invoke(cli, ["report", "--lake", str(lake / "lake"), "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "--type must be one of" in r.output


def test_demo_writes_the_archive_report(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--scale", "0.3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "report-archive.html").exists()
    flat = "".join(result.output.split())  # rich wraps long lines
    assert "deploy-1041" in flat and "report-archive.html" in flat
