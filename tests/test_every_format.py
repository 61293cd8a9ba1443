"""Every option works on every format, and no format leaks a planted secret.

Parametrised over every spec file, so a format added as a file is covered
here without a line of test code.
"""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionlens import Lake, ingest
from sessionlens.ingestion.formats import load_specs
from sessionlens.ingestion.options import FieldOptions

from .conftest import check_expect, ingest_counted, rows

SPECS = {s.name: s for s in load_specs()}
RULES = '[[rule]]\nname = "teapot"\nkind = "other"\nstatus = [418]\n'


def _sample_text(spec) -> str:
    return "".join(s.line + "\n" for s in spec.samples)


def _lines(spec) -> int:
    return sum(len(s.line.splitlines()) for s in spec.samples)


def _header_lines(spec) -> int:
    return sum(int(s.expect.get("header_lines", 0)) if isinstance(s.expect, dict) else 0 for s in spec.samples)


VARIANTS = ["plain", "keep-raw-ips", "xff", "xff-last", "rules", "gzip", "zstd", "stdin"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", sorted(SPECS))
def test_every_option_on_every_format(tmp_path, fmt, variant):
    spec = SPECS[fmt]
    text = _sample_text(spec)
    options = FieldOptions(
        keep_raw_ips=variant == "keep-raw-ips",
        client_ip_from={"xff": "xff", "xff-last": "xff-last"}.get(variant, "remote_addr"),
    )
    kwargs: dict = {"fmt": fmt, "options": options}
    src = tmp_path / "input.log"
    paths = [str(src)]
    if variant == "gzip":
        src.write_bytes(gzip.compress(text.encode()))
    elif variant == "zstd":
        src.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    elif variant == "stdin":
        paths = ["-"]
        kwargs["stdin"] = io.BytesIO(text.encode())
    else:
        src.write_text(text)
    if variant == "rules":
        (tmp_path / "rules.toml").write_text(RULES)
        kwargs["rules_file"] = tmp_path / "rules.toml"
    summary = ingest(tmp_path / "lake", paths, **kwargs)
    assert not summary.failed, summary.failed[0].message
    assert summary.lines_read == _lines(spec)
    assert summary.lines_read == summary.stored + summary.rejected
    lake = Lake(tmp_path / "lake")
    stored = rows(lake, "requests") + rows(lake, "events")
    # The samples' declared values hold whatever the option (the client may
    # legitimately change with --client-ip-from).
    expect = {k: v for k, v in spec.samples[0].expect.items()
              if not (variant.startswith("xff") and k == "client_ip") and k != "header_lines"}
    problems = [check_expect(lake, r, expect) for r in stored]
    assert [] in problems, min(problems, key=len)
    if variant == "keep-raw-ips":
        raw = [r["client_ip"] for r in stored if r["client_key"]]
        assert all(raw), "--keep-raw-ips stores the address of every row that has one"
    else:
        assert all(r["client_ip"] is None for r in stored)


# --- privacy and counts under random damage, for every format ----------------

CANARY_IP = "198.51.100.213"
CANARY_TOKEN = "CanaryTok3nQ7x9Zr2Lm5Vb8Nc4Kd6Wf1Hy0Ps"


def _planted(spec) -> list[str]:
    """The spec's sample lines with their client and session values replaced by canaries."""
    out = []
    for sample in spec.samples:
        line = sample.line
        ip = sample.expect.get("client_ip")
        if isinstance(ip, str) and ip and ip != "__null__" and ":" not in ip:
            line = line.replace(ip, CANARY_IP)
        cookie = sample.expect.get("session_cookie")
        if isinstance(cookie, str) and len(cookie) >= 8 and cookie != "__null__":
            line = line.replace(cookie, CANARY_TOKEN)
        out.append(line)
    return out


PLANTED = {name: _planted(spec) for name, spec in SPECS.items()}
WITH_CANARY = sorted(n for n, lines in PLANTED.items() if any(CANARY_IP in x or CANARY_TOKEN in x for x in lines))


@st.composite
def damaged_file(draw, fmt: str) -> bytes:
    lines = PLANTED[fmt]
    pieces = []
    for _ in range(draw(st.integers(1, 8))):
        line = draw(st.sampled_from(lines)).encode()
        kind = draw(st.sampled_from(["good", "good", "truncated", "mutated", "blank"]))
        if kind == "truncated":
            line = line[: draw(st.integers(0, len(line)))]
        elif kind == "mutated":
            at = draw(st.integers(0, max(0, len(line) - 1)))
            line = line[:at] + draw(st.binary(min_size=1, max_size=3)).replace(b"\n", b" ") + line[at + 1:]
        elif kind == "blank":
            line = b""
        pieces.append(line)
    return b"\n".join(pieces) + b"\n"


def _lake_text(lake_dir: Path) -> str:
    lake = Lake(lake_dir)
    parts = []
    for table in ("requests", "events", "rejects"):
        parts.extend(str(r) for r in lake.sql(f"SELECT * FROM {table}").fetchall())
    return "\n".join(parts)


def _check_no_leak_and_counts(fmt: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        text = _lake_text(ingest_counted(Path(tmp), fmt, data))
        assert CANARY_IP not in text and CANARY_TOKEN not in text
        for f in (Path(tmp) / "lake").rglob("*"):
            if f.is_file() and f.suffix != ".parquet":
                body = f.read_bytes()
                assert CANARY_IP.encode() not in body and CANARY_TOKEN.encode() not in body, f


def test_some_formats_carry_canaries():
    assert len(WITH_CANARY) >= 8, WITH_CANARY


@pytest.mark.parametrize("fmt", WITH_CANARY)
def test_random_damage_never_leaks_or_loses_a_line(fmt):
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=damaged_file(fmt))
    def run(data):
        _check_no_leak_and_counts(fmt, data)

    run()


def test_every_format_declares_at_least_five_samples():
    few = {name: len(spec.samples) for name, spec in SPECS.items() if len(spec.samples) < 5}
    assert not few, few
