"""Rebuild tidewise/data/nasa_ksc_requests_per_minute.csv.gz from the shared NASA-HTTP file.

Keeps the columns the trace loader reads (unix_ts, requests, status); deterministic output.
Usage: python data/build_nasa_trace.py [SHARED_DATA_DIR]
"""

import csv
import gzip
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    source = shared / "nasa-http-1995" / "nasa_ksc_requests_per_minute.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["unix_ts", "requests", "status"])
    with source.open() as f:
        for row in csv.DictReader(f):
            writer.writerow([row["unix_ts"], row["requests"], row["status"]])
    target = ROOT / "tidewise" / "data" / "nasa_ksc_requests_per_minute.csv.gz"
    with gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as f:
        f.write(out.getvalue().encode())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
