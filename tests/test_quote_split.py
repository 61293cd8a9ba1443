"""The access-log fast path: lines split at their quotes, odd lines rescued alone.

Every access format with a fast path is fed its own sample lines, many
times over, with odd lines between them: truncated and glued lines, stray
and escaped quotes, refused values between well-placed quotes, blank and
space-only lines. The fast path must store exactly what the regex alone
stores (same rows, same rejects with the same line numbers and reasons),
and every clean line must stay on the fast path: an odd line costs
nothing to its neighbours.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sessionlens import ingest
from sessionlens.ingestion.formats import access, get_spec, load_specs
from sessionlens.ingestion.formats.quote_split import quote_split
from sessionlens.ingestion.formats.template import compile_apache, compile_nginx
from sessionlens.lake.schema import SCHEMAS
from sessionlens.lake.store import Lake
from sessionlens.privacy import KEY_FILE

FAST = sorted(s.name for s in load_specs()
              if s.family in ("nginx", "apache") and s.samples and quote_split(s.parser().template) is not None)  # type: ignore[attr-defined]


def test_every_common_access_format_has_a_fast_path():
    assert {"nginx-combined", "apache-combined", "nginx-main", "apache-vhost-combined"} <= set(FAST)


@pytest.mark.parametrize("fmt, parts, tokens", [
    ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
     '"$http_user_agent"', 7, (6, None, 4, None, 2, None, 1)),
    ('"$request" "$http_user_agent"', 5, (1, None, 2, None, 1)),
    ("$remote_addr $status $request_time", 1, (3,)),
])
def test_parts_and_tokens_follow_the_template(fmt, parts, tokens):
    split = quote_split(compile_nginx(fmt))
    assert split is not None and split.parts == parts and split.tokens == tokens


def test_templates_with_quotes_inside_a_column_have_no_fast_path():
    assert quote_split(compile_nginx('$remote_addr "$request"$status')) is None
    assert quote_split(compile_apache('%h %r %>s')) is None  # the request unquoted holds spaces


def odd_lines(sample: str) -> list[str]:
    """Lines a CSV reader may stumble on, made from one good line."""
    timed = re.sub(r"\d{2}/[A-Z][a-z]{2}/\d{4}", "31/Xyz/2023", sample, count=1)
    first_quote = sample.find('"')
    return [
        sample[:40],  # cut short by a crash
        sample[:55] + sample,  # cut short, the next line written after it
        sample + ' "',  # a stray quote at the end
        sample[:first_quote + 1] + 'GET /a\\"b HTTP/1.1' + sample[sample.find('"', first_quote + 1):]
        if first_quote >= 0 else sample + '"',  # an escaped quote inside a value
        timed if timed != sample else sample.replace(" ", "  ", 1),  # right quotes, refused time
        sample.replace(" ", "  ", 1),  # two spaces where the template has one
        "   ",
        "",
        "\\x16\\x03\\x01 not a request at all",
    ]


def write_traps(path: Path, samples: list[str], copies: int = 40, odd: bool = True, crlf: bool = False) -> int:
    """Samples repeated, with odd lines between them; returns the number of lines.

    With ``crlf`` some sample lines end in CRLF: DuckDB's CSV reader gives up
    on the file and the numbered pass parses it, still rescuing only odd lines.
    """
    lines: list[str] = []
    for i in range(copies):
        lines.extend(samples)
        lines.extend(odd_lines(samples[i % len(samples)]) if odd and i % 3 == 0 else [])
        if crlf and i % 7 == 0:
            lines.append(samples[0] + "\r")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def regex_lines(monkeypatch) -> list[int]:
    """Counts, run after run, the lines handed to the template's regex (appended per ingest)."""
    seen: list[int] = []
    real = access.AccessLogParser.regex_batch

    def spy(self, con, table, job, *more):
        seen[-1] += con.execute(f"SELECT count(*) FROM {table} WHERE rtrim(line, chr(13)) <> ''").fetchall()[0][0]
        return real(self, con, table, job, *more)

    monkeypatch.setattr(access.AccessLogParser, "regex_batch", spy)
    return seen


def lake_rows(lake: Path) -> dict[str, list[tuple]]:
    """Each table's rows, sorted."""
    con = Lake.of(lake).engine().connection
    out = {}
    for table in ("requests", "events", "rejects"):
        out[table] = sorted(con.execute(f"SELECT {', '.join(SCHEMAS[table])} FROM {table}").fetchall(), key=repr)
    return out


def fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / KEY_FILE).write_text("0123456789abcdef" * 4)
    return path


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", FAST)
def test_fast_path_stores_what_the_regex_stores_and_keeps_clean_lines_fast(name, crlf, tmp_path, monkeypatch):
    spec = get_spec(name)
    log = tmp_path / "access.log"
    total = write_traps(log, [s.line for s in spec.samples], crlf=crlf)
    write_traps(tmp_path / "clean.log", [s.line for s in spec.samples], odd=False)
    regex = regex_lines(monkeypatch)
    runs = {}
    for run, path in [("clean", tmp_path / "clean.log"), ("first", tmp_path / "first.log"), ("fast", log)]:
        if run == "first":
            path.write_text(spec.samples[0].line + "\n")
        regex.append(0)
        runs[run] = ingest(fresh(tmp_path / run), [str(path)], fmt=name, allow_rejects=True)
        runs[run + " regex"] = regex[-1]
    fast = runs["fast"]
    monkeypatch.setattr(access.AccessLogParser, "batches", access.AccessLogParser.regex_batches)
    slow = ingest(fresh(tmp_path / "slow"), [str(log)], fmt=name, allow_rejects=True)

    assert fast.lines_read == slow.lines_read == total
    assert (fast.stored, fast.rejected) == (slow.stored, slow.rejected)
    assert fast.stored + fast.rejected == total
    assert lake_rows(tmp_path / "fast") == lake_rows(tmp_path / "slow")
    # The regex saw the odd lines and no more sample lines than without them: no odd line cost a neighbour.
    odd = sum(1 for i in range(40) if i % 3 == 0) * (len(odd_lines(spec.samples[0].line)) - 1)  # "" is blank
    crlf_lines = sum(1 for i in range(40) if i % 7 == 0) if crlf else 0
    assert runs["fast regex"] == runs["clean regex"] + odd + crlf_lines * runs["first regex"]
    assert fast.stored > 0


def test_escaped_quotes_in_apache_lines_are_stored_once_each(tmp_path):
    """The CSV reader once split `\\"` inside a user agent and stored the line before instead."""
    line = ('10.1.2.3 - - [19/Sep/2023:16:10:00 +0000] "GET /search?q=\\"quoted\\" HTTP/1.1" 200 512 "-" '
            '"Agent with \\"quotes\\""')
    plain = '10.1.2.4 - - [19/Sep/2023:16:10:01 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8.0"'
    log = tmp_path / "a.log"
    log.write_text("\n".join([plain, line] * 50) + "\n")
    summary = ingest(fresh(tmp_path / "lake"), [str(log)], fmt="apache-combined")
    assert (summary.stored, summary.rejected) == (100, 0)
    con = Lake.of(tmp_path / "lake").engine().connection
    agents = dict(con.execute("SELECT user_agent, count(*) FROM requests GROUP BY 1").fetchall())
    assert agents == {'Agent with "quotes"': 50, "curl/8.0": 50}


def test_rejected_lines_carry_their_own_numbers(tmp_path):
    good = '10.0.0.1 - - [19/Sep/2023:16:10:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"'
    lines = [good] * 1000
    lines[10] = good[:30]
    lines[500] = good.replace("19/Sep", "99/Xyz")  # quotes in place, time unreadable
    lines[998] = good.replace('"GET', 'GET')  # an opening quote lost
    log = tmp_path / "a.log"
    log.write_text("\n".join(lines) + "\n")
    summary = ingest(fresh(tmp_path / "lake"), [str(log)], fmt="nginx-combined", allow_rejects=True)
    assert (summary.stored, summary.rejected) == (997, 3)
    con = Lake.of(tmp_path / "lake").engine().connection
    assert [r[0] for r in con.execute("SELECT line_no FROM rejects ORDER BY 1").fetchall()] == [11, 501, 999]
