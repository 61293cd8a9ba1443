"""time_bucket rewritten in integer microseconds gives DuckDB's own buckets, and every named query the same rows."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from sessionlens import ingest
from sessionlens.lake import sql
from sessionlens.lake.duckdb_buckets import fast_buckets
from sessionlens.lake.store import Lake

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"

# times around the origins, before 2000, on bucket edges and a microsecond off them
TIMES = ["1999-12-31 23:59:59.999999+00", "2000-01-01 00:00:00+00", "2000-01-02 23:59:59+00",
         "2000-01-03 00:00:00+00", "2023-09-19 10:04:59.999999+00", "2023-09-19 10:05:00+00",
         "2023-09-19 10:05:00.000001+00", "1990-06-01 12:34:56.5+00", "2031-12-31 23:59:59+00"]
BUCKETS = ["INTERVAL 5 minute", "INTERVAL 1 hour", "to_seconds(60)", "to_seconds(7)", "to_seconds($n)",
           "to_minutes($n)"]
ORIGINS = ["", ", TIMESTAMPTZ '2000-01-01 00:00:00+00'", ", TIMESTAMPTZ '2023-09-19 10:02:30+00'"]


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory) -> Lake:
    """The three bundled incidents in one lake."""
    lake = tmp_path_factory.mktemp("buckets") / "lake"
    ingest(lake, [str(SAMPLES)])
    return Lake(lake)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("width", BUCKETS)
def test_the_rewrite_gives_the_buckets_time_bucket_gives(width, origin):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    values = ", ".join(f"(TIMESTAMPTZ '{t}')" for t in TIMES)
    text = f"SELECT ts, time_bucket({width}, ts{origin}) AS b FROM (VALUES {values}) AS t(ts) ORDER BY ts"
    params = {"n": 90} if "$n" in text else {}  # 90 minutes: more microseconds than an INTEGER holds
    rewritten = fast_buckets(text)
    assert "time_bucket" not in rewritten.lower()
    assert con.sql(rewritten, params=params).fetchall() == con.sql(text, params=params).fetchall()


def test_a_query_without_time_bucket_is_left_as_it_is():
    text = "SELECT count(*) FROM requests WHERE ts >= $since"
    assert fast_buckets(text) is text


@pytest.mark.parametrize("name", sorted(p.stem for p in sql.queries_dir().glob("*.sql")
                                        if "time_bucket" in p.read_text()))
def test_every_named_query_returns_the_same_rows_rewritten(name, sample_lake):
    """Over the bundled incidents' lake, each bucketing query gives identical rows both ways."""
    since, until = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2030, 1, 1, tzinfo=timezone.utc)
    params = dict(since=since, until=until, start=since, end=until, tail_start=since, tail_end=until,
                  base_start=datetime(1999, 1, 1, tzinfo=timezone.utc), base_end=since, bucket_seconds=60,
                  slice_seconds=300, max_values=10, window_minutes=45, min_clients=2, min_agents=2,
                  max_candidates=1000, versions=["v1.41.0"], formats=["rails-encrypted-gcm"], hosts=[])
    ids = {k: ("requests" if k == "table" else "host") for k in re.findall(r"\{\{\s*(\w+)\s*\}\}", sql.load(name))}
    text, bound = sql.prepare(name, params, **ids)
    con = sample_lake.engine().connection
    plain = con.sql(text, params=bound).fetchall()
    assert plain, name  # the sample lake has rows for every one of them
    assert sorted(map(repr, con.sql(fast_buckets(text), params=bound).fetchall())) == sorted(map(repr, plain))
