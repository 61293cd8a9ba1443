"""Every sample line declared in a format spec parses to its declared values."""

from __future__ import annotations

import pytest

from sessionlens.ingestion.formats import load_specs

from .conftest import check_expect, ingest_text, rows

# A sample may start with `header_lines` lines that are not records (a W3C
# file's #Version/#Fields directives): those come out rejected, as in a real file.
CASES = [(spec.name, i, s, int(spec.data.get("sample", [])[i].get("header_lines", 0)))
         for spec in load_specs() for i, s in enumerate(spec.samples)]


def test_every_format_has_samples():
    for spec in load_specs():
        assert spec.samples, f"{spec.name} declares no sample line"


@pytest.mark.parametrize("fmt,index,sample,headers", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_sample_parses_to_expected_values(tmp_path, fmt, index, sample, headers):
    lake, summary = ingest_text(tmp_path, sample.line + "\n", fmt=fmt)
    assert summary.rejected == headers, summary.rejected_by_reason
    if headers:
        assert summary.rejected_by_reason == {"W3C header line": headers}
    assert summary.lines_read == len(sample.line.splitlines())
    assert summary.stored == summary.lines_read - headers
    stored = rows(lake, "requests") + rows(lake, "events")
    assert len(stored) == 1
    assert check_expect(lake, stored[0], sample.expect) == []
