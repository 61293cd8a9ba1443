"""Every sample line declared in a format spec parses to its declared values."""

from __future__ import annotations

import pytest

from sessionlens.ingestion.formats import load_specs
from sessionlens.privacy import KEY_FILE

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


# every sample with its format detected; each format's first sample also named (the judge then skips detection)
FRESH = [(*c, False) for c in CASES] + [(*c, True) for c in CASES if c[1] == 0]


@pytest.mark.parametrize("fmt,index,sample,headers,named", FRESH,
                         ids=[f"{c[0]}-{c[1]}-{'named' if c[4] else 'detected'}" for c in FRESH])
def test_a_fresh_sample_without_its_final_newline_is_read_whole(tmp_path, fmt, index, sample, headers, named):
    """Dumps and fixtures often end without a newline: a just-written file's last record still counts
    (it reads as a whole record of its format), and stores what the same text with its newline stores."""
    kwargs = {"fmt": fmt} if named else {}
    for side in ("without", "with"):  # one hashing key for both lakes, so their hashed columns compare
        (tmp_path / side / "lake").mkdir(parents=True)
        (tmp_path / side / "lake" / KEY_FILE).write_text("0123456789abcdef" * 4)
    lake, summary = ingest_text(tmp_path / "without", sample.line.rstrip("\n"), **kwargs)
    assert not [w for w in summary.as_dict()["warnings"] if "newline" in w["what"]]
    assert summary.lines_read == len(sample.line.splitlines())
    assert summary.stored == summary.lines_read - headers
    whole, _ = ingest_text(tmp_path / "with", sample.line.rstrip("\n") + "\n", **kwargs)
    ours = ("file_id", "source_file", "line_no")
    stored = [{k: v for k, v in row.items() if k not in ours} for row in rows(lake, "requests") + rows(lake, "events")]
    assert stored == [{k: v for k, v in row.items() if k not in ours}
                      for row in rows(whole, "requests") + rows(whole, "events")]
    if named:
        assert check_expect(lake, (rows(lake, "requests") + rows(lake, "events"))[0], sample.expect) == []
