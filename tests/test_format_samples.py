"""Every sample line declared in a format spec parses to its declared values."""

from __future__ import annotations

import pytest

from sessionlens.formats import load_specs

from .conftest import check_expect, ingest_text, rows

CASES = [(spec.name, i, s) for spec in load_specs() for i, s in enumerate(spec.samples)]


def test_every_format_has_samples():
    for spec in load_specs():
        assert spec.samples, f"{spec.name} declares no sample line"


@pytest.mark.parametrize("fmt,index,sample", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_sample_parses_to_expected_values(tmp_path, fmt, index, sample):
    lake, summary = ingest_text(tmp_path, sample.line + "\n", fmt=fmt)
    assert summary.rejected == 0, summary.rejected_by_reason
    assert summary.lines_read == summary.stored == len(sample.line.splitlines())
    stored = rows(lake, "requests") + rows(lake, "events")
    assert len(stored) == 1
    assert check_expect(lake, stored[0], sample.expect) == []
