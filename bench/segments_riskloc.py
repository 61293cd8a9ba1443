"""Root-cause localisation on the 135 labelled RiskLoc RS cases.

    python bench/segments_riskloc.py [--no-record]

For each case (../shared/data/real/riskloc_RS/<data>.csv: leaves per minute
with `value` failures out of `cnt`), the anomalous minute from anomaly.yaml is
"now" and every earlier minute the history, the same leaves that
queries/segment_leaves.sql gives `analyze` (errors and requests in the spike
window and before it). The engine `analyze` runs inside `segments()`,
sessionlens.analysis.localise.localize with the very settings object segments() passes
it (SegmentSettings().localize), names the elements behind the failures.
Scored as RiskLoc scores: an element is its sorted attr=value pairs joined by
'&', a true positive only on an exact match, F1 pooled over all cases.
"""

from __future__ import annotations

import argparse
import ast
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

from sessionlens.analysis.localise import localize
from sessionlens.analysis.segments import SegmentSettings

ROOT = Path(__file__).resolve().parent.parent
RS = ROOT.parent / "shared" / "data" / "real" / "riskloc_RS"
PUBLISHED = {"RobustSpot": 0.422, "Adtributor": 0.274, "AutoRoot": 0.261, "Squeeze": 0.043, "HotSpot": 0.041, "RiskLoc": 0.025}  # noqa: E501


def key(attributes: dict) -> str:
    """RiskLoc's spelling of an element: sorted attr=value pairs joined by '&'."""
    return "&".join(f"{k}={v}" for k, v in sorted(attributes.items()))


def cases() -> list[tuple[str, int, list[str]]]:
    text = (RS / "anomaly.yaml").read_text()
    out = []
    for m in re.finditer(r"- data: (.+)\n\s+timestamp: (\d+)\n\s+cause: (.+)", text):
        cause = ast.literal_eval(m.group(3).strip())
        causes = cause if isinstance(cause, list) else [cause]
        keys = [key(c) for c in causes]
        out.append((m.group(1).strip(), int(m.group(2)), keys))
    return out


def leaves(frame: pl.DataFrame, dims: list[str], at: int) -> pl.DataFrame:
    """The engine's leaves: minute ``at`` is now, every earlier minute the history."""
    frame = frame.with_columns([pl.col(d).cast(pl.String) for d in dims])
    now = (frame.filter(pl.col("min") == at).group_by(dims)
           .agg(errors=pl.col("value").sum(), requests=pl.col("cnt").sum()))
    past = (frame.filter(pl.col("min") < at).group_by(dims)
            .agg(hist_errors=pl.col("value").sum(), hist_requests=pl.col("cnt").sum()))
    # a leaf seen only before (or only now) still counts: the overall history rate draws on every leaf
    return now.join(past, on=dims, how="full", coalesce=True).fill_null(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    settings = SegmentSettings().localize  # what segments() hands the engine in analyze
    tp = fp = fn = exact = 0
    t0 = time.perf_counter()
    all_cases = cases()
    for name, at, truth in all_cases:
        frame = pl.read_csv(RS / f"{name}.csv", infer_schema_length=0).with_columns(
            pl.col("min").cast(pl.Int64), pl.col("value").cast(pl.Float64), pl.col("cnt").cast(pl.Float64))
        dims = [c for c in frame.columns if c not in ("min", "value", "cnt")]
        pred = [key(e.attributes) for e in localize(leaves(frame, dims, at), dims, settings)]
        hit = len(set(pred) & set(truth))
        tp, fp, fn = tp + hit, fp + len(set(pred) - set(truth)), fn + len(set(truth) - set(pred))
        exact += set(pred) == set(truth)
        if args.verbose:
            print(f"{name:40s} truth {truth} pred {pred}")
    seconds = time.perf_counter() - t0
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    lines = [
        f"\n### Segments: RiskLoc RS, {len(all_cases)} cases, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {platform.machine()}, Python {platform.python_version()}  ",
        "Command: `python bench/segments_riskloc.py`  ",
        f"sessionlens.analysis.localise.localize, the engine of analyze's segments, with the settings segments() gives it "  # noqa: E501
        f"(SegmentSettings().localize: {settings}), {seconds:.1f}s for all cases; the anomalous minute is now, "
        "every earlier minute the history. An element is its sorted attr=value pairs "
        "joined by '&'; a true positive only on an exact match; F1 pooled over all cases. Published numbers: the public "  # noqa: E501
        "implementations run with default parameters (issue 3).\n",
        "| method | F1 | source |", "|---|---:|---|",
        f"| sessionlens localize | {f1:.3f} | this run (TP {tp}, FP {fp}, FN {fn}; {exact} of {len(all_cases)} cases exactly right) |",  # noqa: E501
        *[f"| {m} | {v:.3f} | published |" for m, v in PUBLISHED.items()],
    ]
    text = "\n".join(lines) + "\n"
    record(text, not args.no_record)


if __name__ == "__main__":
    main()
