"""Ingest speed and memory: sessionlens against cat, one-regex DuckDB and GoAccess.

    python bench/ingest.py --lines 5000000            # the issue's benchmark
    python bench/ingest.py --lines 5000000 --repeat 9  # ~10 GB: memory must stay flat

Generates an N-line nginx log in the extended format (cookie, host, version),
optionally concatenated --repeat times, then times each contender end to end
and records peak RSS of the child process. Results are appended to
docs/benchmarks.md with the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
          '"$http_user_agent" $request_time $hostname $sent_http_x_app_version "$cookie__app_session"')
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:117.0) Gecko/20100101 Firefox/117.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36",  # noqa: E501
       "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"]
PATHS = ["/works/{}", "/works/{}/chapters/7", "/tags/Star_Wars/works", "/users/login", "/works/{}/kudos", "/assets/app.js"]  # noqa: E501


# What production nginx logs hold besides clean lines (nginx's default escaping
# writes `"` as \x22, `\` as \x5C and bytes above 126 as \xXX; logs written
# with escape=none keep raw UTF-8). Shares are of all lines.
PRODUCTION = {"ipv6": 0.15, "dash_fields": 0.02, "non_ascii": 0.01, "long_url": 0.005, "quote_x22": 0.003,
              "backslash": 0.0005, "raw_utf8": 0.0005, "truncated": 0.00002}
# The pathological run: 10% odd lines, spread over the kinds a CSV reader may stumble on.
ODD10 = {"quote_x22": 0.03, "backslash": 0.02, "long_url": 0.02, "raw_utf8": 0.015, "truncated": 0.005,
         "non_ascii": 0.01}
PROFILES = {"clean": {}, "production": PRODUCTION, "odd10": ODD10}


def generate(path: Path, n: int, seed: int = 1, start: int = 1695081600, span: float = 3 * 86400,
             stable_versions: bool = False, odd: dict[str, float] | None = None) -> None:
    """Writes n lines, vectorised (numpy + polars), in about a second per million.

    ``start``/``span`` place them in time; ``stable_versions`` gives each host
    one version (as a real fleet has) instead of a random one per line.
    ``odd`` (kind -> share of lines, see :data:`PROFILES`) mixes in the
    lines production logs hold: IPv6 clients, ``-`` and empty fields,
    escaped quotes and backslashes, non-ASCII paths, URLs of several KB,
    and truncated lines. Without it the lines are exactly those of earlier runs.
    """
    rng = np.random.default_rng(seed)
    secs = start + (np.arange(n) * (span / n)).astype(np.int64)
    cookies = [f"BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki{i:08d}--{(i * 2654435761) % (1 << 160):040x}" for i in range(50_000)]
    frame = pl.DataFrame({
        "a": rng.integers(1, 224, n), "b": rng.integers(0, 256, n), "c": rng.integers(0, 256, n), "d": rng.integers(1, 255, n),  # noqa: E501
        "t": secs, "p": rng.integers(0, len(PATHS), n), "id": rng.integers(1, 99999, n),
        "post": rng.random(n) < 0.08, "st": rng.choice([200, 200, 200, 304, 404, 422], n), "by": rng.integers(100, 90000, n),  # noqa: E501
        "ua": rng.integers(0, len(UAS), n), "rt": rng.integers(1, 900, n), "h": rng.integers(1, 9, n),
        "v": rng.integers(0, 2, n), "ck": rng.integers(0, len(cookies), n),
    })
    # a session belongs to one client, as in real traffic: the address follows the cookie
    frame = frame.with_columns(a=(pl.col("ck") % 223) + 1, b=(pl.col("ck") // 223) % 256, c=(pl.col("ck") * 7) % 256,
                               d=(pl.col("ck") * 13) % 254 + 1, ua=pl.col("ck") % len(UAS))
    frame = frame.with_columns(
        ip=pl.concat_str([pl.col("a").cast(str), pl.lit("."), pl.col("b").cast(str), pl.lit("."), pl.col("c").cast(str), pl.lit("."), pl.col("d").cast(str)]),  # noqa: E501
        url=pl.col("p").replace_strict(dict(enumerate(PATHS)), return_dtype=pl.String).str.replace("{}", pl.col("id").cast(str), literal=True),  # noqa: E501
        ref=pl.lit("-"),
        agent=pl.col("ua").replace_strict(dict(enumerate(UAS)), return_dtype=pl.String),
    )
    if odd:
        frame = _odd_lines(frame, rng, odd)
    line = frame.select(pl.concat_str([
        pl.col("ip"),
        pl.lit(" - - ["), pl.from_epoch("t").dt.strftime("%d/%b/%Y:%H:%M:%S +0000"), pl.lit('] "'),
        pl.when(pl.col("post")).then(pl.lit("POST")).otherwise(pl.lit("GET")), pl.lit(" "),
        pl.col("url"),
        pl.lit(' HTTP/1.1" '), pl.col("st").cast(str), pl.lit(" "), pl.col("by").cast(str), pl.lit(' "'), pl.col("ref"),
        pl.lit('" "'), pl.col("agent"), pl.lit('" 0.'),
        pl.col("rt").cast(str).str.zfill(3), pl.lit(" web0"), pl.col("h").cast(str),
        pl.when((pl.col("h") > 4) if stable_versions else (pl.col("v") == 1))
          .then(pl.lit(" v1.41.0 \"")).otherwise(pl.lit(" v1.40.2 \"")),
        pl.col("ck").replace_strict(dict(enumerate(cookies)), return_dtype=pl.String), pl.lit('"'),
    ]).alias("line"))
    if odd and odd.get("truncated"):
        # a line cut short (a crash mid-write, a full disk): it ends somewhere inside, then the next line follows
        cut = pl.Series(rng.integers(20, 120, n))
        line = line.with_columns(line=pl.when(pl.Series(rng.random(n) < odd["truncated"]))
                                 .then(pl.col("line").str.slice(0, cut)).otherwise(pl.col("line")))
    line.write_csv(path, include_header=False, quote_style="never")


def _odd_lines(frame: pl.DataFrame, rng: np.random.Generator, odd: dict[str, float]) -> pl.DataFrame:
    """Rewrites a share of the rows' fields the way production traffic and nginx's escaping do."""
    n = frame.height
    kinds = [k for k in odd if k != "truncated"]
    shares = [odd[k] for k in kinds]
    picks = rng.choice(len(kinds) + 1, size=n, p=[*shares, 1 - sum(shares)])
    kind = pl.Series(picks).replace_strict(dict(enumerate([*kinds, "clean"])), return_dtype=pl.String)
    frame = frame.with_columns(kind=kind, k=pl.Series(rng.integers(0, 1 << 30, n)))
    filler = "".join(chr(97 + i % 26) for i in range(8192))
    is_ = lambda name: pl.col("kind") == name  # noqa: E731 - a short predicate, used per column below
    return frame.with_columns(
        ip=pl.when(is_("ipv6")).then(pl.concat_str([pl.lit("2001:db8:"), (pl.col("k") % 10000).cast(str), pl.lit("::"),
                                                     (pl.col("ck") % 9999).cast(str)]))
             .otherwise(pl.col("ip")),
        url=pl.when(is_("non_ascii")).then(pl.lit("/tags/Caf\\xC3\\xA9_\\xE6\\x97\\xA5\\xE6\\x9C\\xAC/works"))
              .when(is_("raw_utf8")).then(pl.lit("/tags/Café_日本/works"))
              .when(is_("long_url")).then(pl.concat_str([pl.col("url"), pl.lit("?q="), pl.lit(filler).str.slice(
                  0, pl.when(is_("long_url")).then(2000 + pl.col("k") % 6000).otherwise(0))]))  # 0: no 8 KB per row
              .when(is_("backslash")).then(pl.concat_str([pl.col("url"), pl.lit("?path=C:\\x5CUsers\\x5Cpublic")]))
              .otherwise(pl.col("url")),
        ref=pl.when(is_("dash_fields")).then(pl.lit(""))
              .when(is_("backslash")).then(pl.lit("https://example.com/a\\x5Cb"))
              .otherwise(pl.col("ref")),
        agent=pl.when(is_("dash_fields")).then(pl.lit("-"))
                .when(is_("quote_x22")).then(pl.lit("Mozilla/5.0 (compatible; \\x22Googlebot\\x22/2.1)"))
                .otherwise(pl.col("agent")),
    ).drop("kind", "k")


def run(cmd: list[str] | str, shell: bool = False) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of the child, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, shell=shell, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {cmd}\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the max over all children so far: run each contender in a fresh
    # interpreter via `measure` below to read its own peak.
    return dt, max(peak, before) / 1024, proc.stdout


def measure(kind: str, log: Path, work: Path) -> dict:
    """Runs one contender in a child Python so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--_measure", kind, str(log), str(work)], capture_output=True, text=True)  # noqa: E501
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.splitlines()[-1])


def _measure(kind: str, log: Path, work: Path) -> None:
    lake = work / f"lake-{kind}"
    shutil.rmtree(lake, ignore_errors=True)
    if kind == "cat":
        # through a pipe: `cat > /dev/null` can skip the copy altogether
        dt, rss, _ = run(f"cat '{log}' | wc -l > /dev/null", shell=True)
    elif kind == "duckdb-regex":
        regex = (r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d+) (\d+) "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) "([^"]*)"$')  # noqa: E501
        script = (
            "import duckdb,sys; con=duckdb.connect(); "
            "con.execute(\"SET memory_limit='600MB'\"); con.execute('SET preserve_insertion_order=false'); "
            f"con.execute(r'''COPY (SELECT regexp_extract(line, '{regex}', ['ip','user','t','m','p','s','b','r','ua','rt','h','v','c']) AS x "  # noqa: E501
            f"FROM read_csv('{log}', columns={{'line':'VARCHAR'}}, delim='\\x01', quote='', escape='', header=false, auto_detect=false)) "  # noqa: E501
            f"TO '{work}/regex.parquet' (FORMAT parquet, COMPRESSION zstd)''')"
        )
        dt, rss, _ = run([sys.executable, "-c", script])
    elif kind in ("duckdb-csv", "duckdb-csv-split"):
        if kind == "duckdb-csv":
            # DuckDB's own CSV reader on the layout: 14 space-separated, quoted columns, every one VARCHAR,
            # lines it cannot split skipped; the same Parquet output.
            columns, split = 14, "delim=' ', quote='\"', escape='\"'"
        else:
            # The same reader splitting each line at its quotes with no quoting rules (9 parts for this
            # layout): it keeps every row. sessionlens's fast path starts with this scan; nothing is parsed
            # further here (no time, no request line, no hashing).
            columns, split = 9, "delim='\"', quote='', escape=''"
        names = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(columns)) + "}"
        out = work / f"{kind}.parquet"
        query = (f"COPY (SELECT * FROM read_csv('{log}', {split}, header=false, auto_detect=false, columns={names}, "
                 f"ignore_errors=true, max_line_size=4194304, new_line='\\n')) "
                 f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        script = ("import duckdb, sys; con = duckdb.connect(); con.execute(\"SET memory_limit='600MB'\"); "
                  "con.execute('SET preserve_insertion_order=false'); con.execute(sys.argv[1])")
        dt, rss, _ = run([sys.executable, "-c", script, query])
        # A reader that loses its place (an unterminated quote) skips the rest: say how much it kept.
        rows = pq.ParquetFile(out).metadata.num_rows
        print(json.dumps({"kind": kind, "seconds": dt, "peak_rss_mb": rss, "rows": rows}))
        return
    elif kind == "goaccess":
        if not shutil.which("goaccess"):
            print(json.dumps({"kind": kind, "skipped": "goaccess not installed (apt-get install goaccess)"}))
            return
        fmt = '%h %^ %e [%d:%t %^] "%r" %s %b "%R" "%u" %T %v %^ "%^"'
        dt, rss, _ = run(["goaccess", str(log), "--log-format", fmt, "--date-format", "%d/%b/%Y", "--time-format", "%H:%M:%S",  # noqa: E501
                          "-o", str(work / "goaccess.html"), "--no-progress"])
    elif kind == "sessionlens":
        dt, rss, stdout = run([sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake), "--json", str(log)])
        summary = json.loads(stdout)
        # only the truncated lines of a production-shaped log may be rejected
        assert summary["stored"] + summary["rejected"] == summary["lines_read"], summary
        assert summary["rejected"] <= 0.01 * summary["lines_read"], summary
    else:
        raise SystemExit(f"unknown contender {kind}")
    print(json.dumps({"kind": kind, "seconds": dt, "peak_rss_mb": rss}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="concatenate the generated file this many times")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="clean",
                    help="clean lines, production-shaped ones, or 10%% odd lines (PROFILES)")
    ap.add_argument("--only", nargs="*",
                    default=["cat", "duckdb-regex", "duckdb-csv", "duckdb-csv-split", "goaccess", "sessionlens"])
    ap.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    ap.add_argument("--_measure", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._measure:
        _measure(args._measure[0], Path(args._measure[1]), Path(args._measure[2]))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.profile == "clean" else f"-{args.profile}"
    base = args.work / f"nginx-{args.lines}{suffix}.log"
    if not base.exists():
        t0 = time.perf_counter()
        generate(base, args.lines, odd=PROFILES[args.profile])
        print(f"generated {base} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    log = base
    if args.repeat > 1:
        log = args.work / f"nginx-{args.lines}x{args.repeat}.log"
        if not log.exists():
            with open(log, "wb") as out:
                for _ in range(args.repeat):
                    with open(base, "rb") as src:
                        shutil.copyfileobj(src, out, 16 << 20)
    n = args.lines * args.repeat
    size_gb = log.stat().st_size / 1e9
    rows = []
    speed: dict[str, float] = {}
    for kind in args.only:
        r = measure(kind, log, args.work)
        if "seconds" in r:
            speed[kind] = n / r["seconds"]
        if "skipped" in r:
            rows.append(f"| {kind} | skipped: {r['skipped']} | | | |")
        else:
            kept = f"{r['rows']:,}" if "rows" in r else "all"
            rows.append(f"| {kind} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} | {kept} |")
            if r.get("rows", n) < 0.99 * n:
                speed.pop(kind, None)  # it skipped most lines: its speed is no yardstick
        print(rows[-1], file=sys.stderr)
    cmd = "python bench/ingest.py " + " ".join(a for a in sys.argv[1:] if a != "--no-record")
    odd_kinds = ", ".join(f"{k} {v:.3%}" for k, v in PROFILES[args.profile].items())
    section = "\n".join([
        f"\n### Ingest: {n:,} lines ({size_gb:.2f} GB, {args.profile}), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}  ",
        f"Command: `{cmd.strip()}`  ",
        "Format: nginx extended (combined + request time, host, app version, session cookie); sessionlens detects it and "  # noqa: E501
        "applies every enrichment (keyed hashes, cookie format, route, session-error rules).\n",
        f"Lines: {args.profile} ({odd_kinds or 'no odd lines'})."
        + (f" sessionlens / DuckDB's CSV reader: **{speed['sessionlens'] / speed['duckdb-csv']:.2f}** (same run)."
           if {"sessionlens", "duckdb-csv"} <= speed.keys() else
           " DuckDB's quote-aware CSV reader kept too few rows to be a yardstick." if "duckdb-csv" in args.only else "")
        + (f" sessionlens / DuckDB's CSV reader splitting at quotes (every row kept): "
           f"**{speed['sessionlens'] / speed['duckdb-csv-split']:.2f}** (same run)."
           if {"sessionlens", "duckdb-csv-split"} <= speed.keys() else "") + "\n",
        "| contender | seconds | lines/s | peak RSS MB | rows kept |", "|---|---:|---:|---:|---:|", *rows, "",
    ])
    record(section, not args.no_record)


if __name__ == "__main__":
    main()
