"""`sessionlens watch`: growing files ingested once across rotations, one alert per spike, crash safety.

The archive incident is replayed in accelerated time into growing per-host
files (one host after another switching version, as the rollout did), with
the three kinds of rotation in the middle; `watch --once` runs each
simulated minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from sessionlens.cli import cli
from sessionlens.ingestion import plan as plan_module
from sessionlens.ingestion.engine import ingest
from sessionlens.ingestion.forget import forget
from sessionlens.lake.compact import merge_tails, tail_runs
from sessionlens.lake.store import Lake
from sessionlens.live.alerts import Alert, Channels
from sessionlens.live.view import recent_rates, render
from sessionlens.live.watch import Watcher
from sessionlens.samples import generate
from sessionlens.samples.archive import DEPLOY_START, HOSTS
from sessionlens.samples.replay import Replay, line_time

from .conftest import REAL

UTC = timezone.utc
EVER = {"start": datetime(2000, 1, 1, tzinfo=UTC), "end": datetime(2100, 1, 1, tzinfo=UTC)}


def stored(lake: Path) -> int:
    return int(Lake(lake).engine().one("window_totals", EVER)[0])


def digest(lake: Path) -> list[tuple]:
    return Lake(lake).sql("SELECT host, ts, path, status, session_key FROM requests ORDER BY ALL").fetchall()


# --- the archive rollout, minute by minute ------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    truth = generate("archive", base / "inc", seed=7, scale=1.0)
    return truth, base / "inc"


def test_watch_follows_the_archive_rollout(archive, tmp_path):
    """`watch --once` each simulated minute: every line once across rename, copytruncate and gzip rotation;
    one onset alert within 5 minutes of the onset naming the deploy; one resolution after the redeploy."""
    truth, incident = archive
    replay = Replay(incident, tmp_path / "live")
    paths = [str(replay.logs), str(replay.markers)]
    lake = tmp_path / "lake"
    alerts: list[tuple[datetime, dict]] = []

    def once() -> dict:
        result = CliRunner().invoke(cli, ["watch", "--lake", str(lake), "--once", "--json", *paths])
        assert result.exit_code == 0, result.output
        cycle = json.loads(result.output)
        alerts.extend((datetime.fromisoformat(cycle["data_end"].replace("Z", "+00:00")), a) for a in cycle["alerts"])
        return cycle

    now = DEPLOY_START - timedelta(minutes=3)
    replay.advance(now)  # two and a half days of history arrive in the first cycle
    while now <= DEPLOY_START + timedelta(minutes=8):
        if now == DEPLOY_START - timedelta(minutes=1):
            files = replay.files()
            replay.rotate(files[0], "rename")
            replay.rotate(files[1], "copytruncate")
            replay.rotate(files[2], "gzip")
        once()
        assert stored(lake) == replay.lines_written(), f"at {now}: lines lost or stored twice"
        now += timedelta(minutes=1)
        replay.advance(now)
    assert [a["event"] for _, a in alerts] == ["onset"], alerts
    when, onset = alerts[0]
    assert when - DEPLOY_START <= timedelta(minutes=5), f"alerted at {when}, the rollout began at {DEPLOY_START}"
    assert onset["suspect"]["id"] == truth["cause"] == "deploy-1041"
    assert onset["suspect"]["role"] == "cause" and "deploy-1041" in onset["summary"]
    assert onset["delivery_failures"] == {}
    # the segments merged as cycles went: a file's tail is not a pile of tiny parts
    assert not tail_runs(Lake(lake).read_manifest().segments)

    # an hour later, still open: nothing new is said
    replay.advance(DEPLOY_START + timedelta(minutes=60))
    assert once()["alerts"] == []
    # after the clean redeploy (19:00) the spike is over: resolved, once
    replay.advance(datetime(2023, 9, 19, 20, 30, tzinfo=UTC))
    resolved = once()["alerts"]
    assert [a["event"] for a in resolved] == ["resolved"] and resolved[0]["incident"] == onset["incident"]
    assert once()["alerts"] == []
    assert stored(lake) == replay.lines_written()


def test_once_on_the_cli_prints_the_cycle_and_its_alert(archive, tmp_path):
    truth, incident = archive
    replay = Replay(incident, tmp_path / "live")
    replay.advance(DEPLOY_START + timedelta(minutes=6))
    hook = tmp_path / "alert.json"
    args = ["watch", "--lake", str(tmp_path / "lake"), "--once", "--on-alert", f"cat > {hook}",
            str(replay.logs), str(replay.markers)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "ALERT onset" in result.output and "deploy-1041" in result.output
    payload = json.loads(hook.read_text())
    assert payload["event"] == "onset" and payload["suspect"]["id"] == "deploy-1041"
    # privacy: no raw session cookie or client address reaches the output, the alert or the watch state
    sample = next(line for line in (replay.logs / "web01.access.log").read_text().splitlines()
                  if len(line.split('"')[-10]) > 20)
    cookie, address = sample.split('"')[-10], sample.split(" ")[0]
    assert "--" in cookie and address.count(".") == 3
    for text in (result.output, hook.read_text(), (tmp_path / "lake" / "_watch.json").read_text()):
        assert cookie not in text and address not in text
    # again, nothing new: no line stored, no alert repeated
    hook.unlink()
    result = CliRunner().invoke(cli, args[:-2] + ["--json", *args[-2:]])
    assert result.exit_code == 0, result.output
    cycle = json.loads(result.output)
    assert cycle["ingested"]["stored"] == 0 and cycle["alerts"] == [] and not hook.exists()
    assert [s["explained_by"] for s in cycle["open_spikes"]] == ["deploy-1041"]
    # the live view of that state: the rate against its baseline, the open spike, its suspect, the deploy
    with Watcher(tmp_path / "lake", [str(replay.logs)]) as watcher:
        done = watcher.cycle()
    rates = recent_rates(Lake(tmp_path / "lake"), done.data_end, timedelta(hours=1))
    assert rates.baseline is not None and rates.rate > 3 * rates.baseline and len(rates.sparkline()) == 60
    console = Console(record=True, width=140)
    console.print(render(done, rates, history=["onset: " + payload["summary"]]))
    screen = console.export_text()
    for expected in ("session errors", "open spike", "deploy-1041", "per minute", "lag"):
        assert expected in screen, screen


# --- rotation of a named file ---------------------------------------------------------

LINE = '10.0.0.{i} - - [19/Sep/2023:16:{m:02d}:{s:02d} +0000] "GET /works/{i} HTTP/1.1" 200 512 "-" "curl/8"\n'


def _lines(start: int, n: int) -> str:
    return "".join(LINE.format(i=k % 250, m=(k // 60) % 60, s=k % 60) for k in range(start, start + n))


def _rotate_between_cycles(watcher: Watcher, log: Path, written_after: int) -> None:
    """10 lines and a cycle; then ``written_after`` more lines, a rename to ``.1`` and a new file of 3 lines."""
    log.write_text(_lines(0, 10))
    watcher.cycle()
    with open(log, "a") as fh:
        fh.write(_lines(10, written_after))
    log.rename(log.with_name(log.name + ".1"))
    log.write_text(_lines(10 + written_after, 3))


def test_a_named_file_renamed_between_cycles_loses_no_line(tmp_path):
    """Lines written after the last cycle and then rotated away are read from the rotated sibling."""
    log, lake = tmp_path / "access.log", tmp_path / "lake"
    with Watcher(lake, [str(log)]) as w:
        _rotate_between_cycles(w, log, written_after=5)
        w.cycle()
        assert stored(lake) == 18
        w.cycle()  # the sibling is older than the last cycle now, and read already: nothing twice
    assert stored(lake) == 18


def test_a_file_written_to_while_it_is_ingested_stores_each_line_once(tmp_path):
    """A log being written during the ingest: the lines past the planned end wait for the next run.

    Before, a unit that reached the end of the file read to the end *at parse time*: lines written
    between the plan and the parse were stored, then read again by the next run (bench/live.py found
    500 extra rows in 600,000)."""
    log = tmp_path / "access.log"
    log.write_text(_lines(0, 50))
    stop = threading.Event()
    count = [50]

    def writer():
        with open(log, "a") as fh:
            while not stop.is_set():
                fh.write(_lines(count[0], 40))
                fh.flush()
                count[0] += 40
                time.sleep(0.001)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(6):
            ingest(tmp_path / "lake", [str(log)])
    finally:
        stop.set()
        thread.join()
    ingest(tmp_path / "lake", [str(log)])
    assert stored(tmp_path / "lake") == count[0]


def test_a_glob_is_followed_and_a_skipped_cycle_keeps_rotated_lines(tmp_path):
    """A cycle that could not ingest (another writer held the lake) must not make the next one
    forget the rotated sibling; a pattern names the files that match it at each cycle."""
    log, lake = tmp_path / "access.log", tmp_path / "lake"
    with Watcher(lake, [str(log)]) as w:
        _rotate_between_cycles(w, log, written_after=7)
        with Lake(lake).writer():  # nightly holds the lake for this cycle
            assert any("ingest skipped" in n for n in w.cycle().notes)
        time.sleep(0.05)
        w.cycle()
    assert stored(lake) == 20
    (tmp_path / "b.log").write_text(_lines(100, 4))
    with Watcher(tmp_path / "lake2", [str(tmp_path / "*.log")]) as w:
        assert w.cycle().notes == []
    assert stored(tmp_path / "lake2") == 7  # access.log (3 lines) and b.log (4)


def test_a_log_without_sessions_is_not_called_quiet():
    """A real third-party log with no session cookie, user or session-error rule: watch says it cannot judge."""
    real = REAL / "elastic_apache_logs" / "apache_logs"
    if not real.exists():
        pytest.skip("../shared/data/real is not beside the repository")
    with tempfile.TemporaryDirectory() as tmp:
        result = CliRunner().invoke(cli, ["watch", "--lake", f"{tmp}/lake", "--once", str(real)])
    assert result.exit_code == 0, result.output
    assert "cannot judge: no-signal" in result.output and "session errors over the window" not in result.output


def test_a_path_that_cannot_appear_is_an_error(tmp_path):
    result = CliRunner().invoke(cli, ["watch", "--lake", str(tmp_path / "lake"), "--once", str(tmp_path / "no/x.log")])
    assert result.exit_code == 1 and "no such file" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["watch", "--lake", str(tmp_path / "lake"), "--webhook", "ftp://x", "--once",
                                      str(tmp_path)])
    assert result.exit_code == 1 and "not an http(s) URL" in result.output
    result = CliRunner().invoke(cli, ["watch", "--lake", str(tmp_path / "lake"), "--window", "soon", str(tmp_path)])
    assert result.exit_code == 2 and "duration" in result.output


def test_a_second_watch_on_the_same_lake_is_refused(tmp_path):
    (tmp_path / "a.log").write_text(_lines(0, 3))
    with Watcher(tmp_path / "lake", [str(tmp_path / "a.log")]):
        with pytest.raises(Exception, match="another `sessionlens watch`"):
            Watcher(tmp_path / "lake", [str(tmp_path / "a.log")]).__enter__()


# --- merged tails ---------------------------------------------------------------------


def test_merged_tail_segments_keep_rows_and_know_earlier_copies(tmp_path):
    log = tmp_path / "access.log"
    lake = tmp_path / "lake"
    copies = []
    for step in range(20):
        with open(log, "a") as fh:
            fh.write(_lines(step * 7, 7))
        ingest(lake, [str(log)])
        copies.append(log.read_bytes())
    before = digest(lake)
    segments = Lake(lake).read_manifest().segments
    assert len(tail_runs(segments)) == 1 and len(segments) == 20
    assert merge_tails(Lake(lake)) == 11  # the oldest 12 become one; the newest 8 stay as they are
    after = Lake(lake).read_manifest().segments
    merged = next(s for s in after if s.start_byte == 0)
    assert len(after) == 9 and merged.lines == merged.stored == 84
    assert digest(lake) == before
    listed = {Path(p).name for s in after for p in s.parts["requests"]}
    assert {p.name for p in (lake / "requests").rglob("*.parquet")} == listed  # the merged parts' files are gone
    assert not tail_runs(after)  # nothing left to merge until more segments come
    # copies of the file as it was (copytruncate's copy) are known as stored, inside the merged range or not
    for i in (3, 15):
        (tmp_path / f"old{i}").mkdir()
        (tmp_path / f"old{i}" / "access.log.1").write_bytes(copies[i])
        assert ingest(lake, [str(tmp_path / f"old{i}" / "access.log.1")]).stored == 0
    # the merged rows carry the merged segment's id: forgetting it by id takes exactly them
    ids = dict(Lake(lake).sql("SELECT file_id, count(*) FROM requests GROUP BY 1").fetchall())
    assert ids[merged.segment_id] == 84
    forget(lake, segments=[merged.segment_id])
    assert stored(lake) == 140 - 84
    # and the file goes on growing from where the lake holds it
    with open(log, "a") as fh:
        fh.write(_lines(140, 4))
    assert ingest(lake, [str(log)]).stored == 4


def test_two_contents_under_one_name_are_not_merged(tmp_path):
    """After a copytruncate the new content may start with the same line: its segments are not chained."""
    log = tmp_path / "access.log"
    lake = tmp_path / "lake"
    for generation in (0, 1):
        log.write_text(_lines(0, 1))  # the same first line both times
        for step in range(20):
            with open(log, "a") as fh:
                fh.write(_lines(1 + generation * 1000 + step * 3, 3))
            ingest(lake, [str(log)])
        if generation == 0:
            assert len(tail_runs(Lake(lake).read_manifest().segments)) == 1
            (tmp_path / "access.log.1").write_bytes(log.read_bytes())  # copytruncate
    assert tail_runs(Lake(lake).read_manifest().segments) == []


# --- a file that changes between plan and parse ------------------------------------------


def _after_plan(monkeypatch, name: str, action) -> None:
    """Runs ``action`` once, right after ``name`` was planned and before it is parsed."""
    original = plan_module.Planner.plan
    fired = []

    def plan_then_act(self, path, *args, **kwargs):
        planned = original(self, path, *args, **kwargs)
        if not fired and Path(path).name == name:
            fired.append(1)
            action()
        return planned

    monkeypatch.setattr(plan_module.Planner, "plan", plan_then_act)


@pytest.mark.parametrize("tail", [False, True])
def test_copytruncate_between_plan_and_parse_loses_and_repeats_nothing(tmp_path, monkeypatch, tail):
    logs = tmp_path / "logs"
    logs.mkdir()
    log, lake, written = logs / "access.log", tmp_path / "lake", 0
    if tail:
        log.write_text(_lines(0, 20))
        ingest(lake, [str(logs)])
        written = 20
    with open(log, "a") as fh:
        fh.write(_lines(written, 10))
    written += 10

    def copytruncate():
        (logs / "access.log.1").write_bytes(log.read_bytes())
        log.write_text(_lines(100, 40))  # the app goes on writing into the emptied file

    _after_plan(monkeypatch, "access.log", copytruncate)
    first = ingest(lake, [str(log)])
    assert first.files[0].status == "failed" and "changed while it was read" in first.files[0].message
    monkeypatch.undo()
    ingest(lake, [str(logs)])
    assert ingest(lake, [str(logs)]).stored == 0
    assert stored(lake) == written + 40
    paths = [p for (p,) in Lake(lake).sql("SELECT path FROM requests").fetchall()]
    assert len(paths) == len(set(paths)) == written + 40


def test_a_docker_log_growing_during_its_ingest_stores_the_planned_lines(tmp_path, monkeypatch):
    log = tmp_path / "c-json.log"
    entry = '{{"log":"{line}\\n","stream":"stdout","time":"2023-09-19T16:00:{s:02d}.000000000Z"}}\n'

    def lines(a, n):
        return "".join(entry.format(line=_lines(k, 1).rstrip("\n").replace('"', '\\"'), s=k % 60)
                       for k in range(a, a + n))

    log.write_text(lines(0, 20))
    unwrap = plan_module.unwrap

    def written_to_then_unwrap(path, *args):  # the container writes between the look and the unwrap
        with log.open("a") as fh:
            fh.write(lines(20, 5))
        monkeypatch.setattr(plan_module, "unwrap", unwrap)
        return unwrap(path, *args)

    monkeypatch.setattr(plan_module, "unwrap", written_to_then_unwrap)
    ingest(tmp_path / "lake", [str(log)])
    monkeypatch.undo()
    ingest(tmp_path / "lake", [str(log)])
    assert stored(tmp_path / "lake") == 25


# --- kill -9 ------------------------------------------------------------------------


def test_kill_9_and_restart_lose_and_duplicate_nothing(tmp_path):
    """A watch killed at random moments (mid-ingest included) and restarted stores every line once."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lake = tmp_path / "lake"
    written = 0
    cmd = [sys.executable, "-m", "sessionlens", "watch", "--lake", str(lake), "--interval", "0.5", str(logs)]
    env = {**os.environ, "COLUMNS": "100"}
    delays = [0.7, 1.3, 2.1, 0.9, 1.6]
    for round_, delay in enumerate(delays):
        for host in HOSTS[:4]:
            with open(logs / f"{host}.log", "a") as fh:
                fh.write(_lines(round_ * 400 + HOSTS.index(host) * 100, 100))
            written += 100
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(cmd[:-1] + ["--once", str(logs)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stored(lake) == written


# --- alert delivery ---------------------------------------------------------------------


class _Collect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.bodies.append((self.path, json.loads(body)))
        self.send_response(202 if self.path.startswith("/pd") else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Collect)
    srv.bodies = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def test_alerts_reach_slack_pagerduty_and_a_hook(server, tmp_path):
    url = f"http://127.0.0.1:{server.server_port}"
    hook_out = tmp_path / "hook.txt"
    channels = Channels(webhook=f"{url}/slack", pagerduty_key="R0UT1NG", pagerduty_url=f"{url}/pd/enqueue",
                        command=f'echo "$SESSIONLENS_EVENT" >> {hook_out}; cat >> {hook_out}', timeout=5)
    onset = Alert("onset", "2023-09-19T16:10:00Z", "sessionlens: Session errors rose <10x> & more", {"lake": "l"})
    resolved = Alert("resolved", "2023-09-19T16:10:00Z", "sessionlens: resolved", {"lake": "l"})
    assert channels.deliver(onset, dedup="sessionlens-x-1") == {}
    assert channels.deliver(resolved, dedup="sessionlens-x-1") == {}
    slack = [b for p, b in server.bodies if p == "/slack"]
    assert slack[0] == {"text": "sessionlens: Session errors rose &lt;10x&gt; &amp; more"}
    pd = [b for p, b in server.bodies if p == "/pd/enqueue"]
    assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
    assert {e["dedup_key"] for e in pd} == {"sessionlens-x-1"} and pd[0]["routing_key"] == "R0UT1NG"
    assert pd[0]["payload"]["severity"] == "error" and pd[0]["payload"]["summary"].startswith("sessionlens:")
    text = hook_out.read_text()
    assert text.startswith("onset\n") and '"event": "resolved"' in text


def test_an_undeliverable_alert_is_reported_not_raised(tmp_path):
    channels = Channels(webhook="http://127.0.0.1:9/none", command="exit 7", timeout=2)
    failures = channels.deliver(Alert("onset", "k", "text"), dedup="d")
    assert set(failures) == {"webhook", "command"} and "exited 7" in failures["command"]


def test_replay_dates_every_sample_format():
    assert line_time('1.2.3.4 - - [19/Sep/2023:16:09:00 +0000] "GET / HTTP/1.1" 200 1') == \
        datetime(2023, 9, 19, 16, 9, tzinfo=UTC)
    assert line_time('{"EdgeStartTimestamp": 1655683241748010000}').replace(microsecond=0) == \
        datetime(2022, 6, 20, 0, 0, 41, tzinfo=UTC)
    assert line_time('{"ts": "2022-06-19T00:03:00.181Z", "event": "login"}') == datetime(2022, 6, 19, 0, 3, tzinfo=UTC)
    assert line_time("I, [2024-03-04T00:18:36.152226 #4121]  INFO -- : Started") == \
        datetime(2024, 3, 4, 0, 18, 36, tzinfo=UTC)
    assert line_time("  app/models/user.rb:12:in `find'") is None
