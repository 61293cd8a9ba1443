"""Regenerate the committed sample incidents: python sample_logs/generate.py

Writes sample_logs/<incident>/{logs,markers,ground_truth.json} at a small
scale (seed 7, scale 0.1), logs gzipped. `sessionlens demo` generates larger ones.
"""

import gzip
import shutil
from pathlib import Path

from sessionlens.samples import INCIDENTS, generate

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for name in INCIDENTS:
        shutil.rmtree(HERE / name, ignore_errors=True)
        truth = generate(name, HERE / name, seed=7, scale=0.1)
        for log in (HERE / name / "logs").rglob("*"):
            if log.is_file() and log.suffix != ".gz":  # keep the repository small
                with open(log, "rb") as src, open(f"{log}.gz", "wb") as raw, \
                        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as dst:
                    shutil.copyfileobj(src, dst)  # mtime=0: the same samples give the same bytes
                log.unlink()
        print(f"{name}: {truth.get('requests', truth.get('events'))} records -> {HERE / name}")
