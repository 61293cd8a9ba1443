"""The HTML report in a real headless browser: charts render, hostile log text never runs.

Needs Chromium (Debian's `chromium`; .ci/run installs it). The screenshot of
the demo report lands in test-artifacts/report-archive.png for a person to
look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sessionlens import ingest
from sessionlens.changes.store import import_markers
from sessionlens.report import write_report
from sessionlens.samples import generate

from .conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=8000"]
PAYLOADS = [
    "<script>document.title='XSS-script'</script>",
    "<img src=x onerror=\"document.title='XSS-img'\">",
    "javascript:document.title='XSS-url'",
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    generate("archive", base / "inc", seed=7, scale=0.6)
    with open(base / "inc" / "logs" / "web02.access.log", "a") as fh:
        for p in PAYLOADS:
            agent = p.replace('"', "'")
            fh.write(f'203.0.113.66 - - [19/Sep/2023:16:21:00 +0000] "GET /{p.replace(" ", "%20")} HTTP/1.1" 302 0 '
                     f'"{p.replace(chr(34), chr(39))}" "{agent}" 0.01 web02 v1.40.2 "-" "on" "-" "-" '
                     '"/users/login?reason=expired"\n')
    marker = base / "hostile.jsonl"
    marker.write_text("".join(json.dumps({"id": f"hostile-{i}", "at": f"2023-09-19T16:{30 + i}:00Z", "kind": "config",
                                          "label": p}) + "\n" for i, p in enumerate(PAYLOADS)))
    ingest(base / "lake", [str(base / "inc" / "logs"), str(base / "inc" / "markers"), str(marker)])
    import_markers(base / "lake", [str(marker)])
    return write_report(base / "lake", base / "report.html")


def test_hostile_text_never_runs_and_charts_render(report, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "<title>sessionlens report</title>" in page  # no payload renamed the page
    assert "XSS-" not in page.split("<body", 1)[0]
    # the payloads are on the page as text
    assert "hostile-0" in page and "&lt;script&gt;document.title='XSS-script'&lt;/script&gt;" in page
    # outside our own scripts (the Vega bundle), no element came from a payload: the report has no images
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert not re.search(r"<img\b", markup) and "&lt;img src=x onerror" in markup
    # vega-embed drew the charts
    assert page.count("<canvas") + page.count("<svg") >= 3


def test_screenshot_of_the_demo_report(report, tmp_path):
    out_dir = ROOT / "test-artifacts"
    out_dir.mkdir(exist_ok=True)
    shot = out_dir / "report-archive.png"
    result = _chromium(tmp_path, "--window-size=1100,2400", f"--screenshot={shot}", report.as_uri())
    assert result.returncode == 0 and shot.stat().st_size > 50_000, result.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
    # and a phone-sized one: the page must lay out in 390 px
    phone = out_dir / "report-archive-phone.png"
    assert _chromium(tmp_path, "--window-size=390,1800", f"--screenshot={phone}", report.as_uri()).returncode == 0
