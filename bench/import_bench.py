"""`nudge import profiles` throughput beside a bare SQLite insert of the same rows.

    .venv/bin/python bench/import_bench.py --profiles 1000000

Writes a CSV of profiles (id, email, first name, city, subscribed flag), then measures (1) the
baseline: the CSV read with the csv module and each row inserted as (customer_id, traits JSON)
into a bare WAL table in batches of 5,000; (2) the real import (`connectors.profile_import`:
SPEC §8 validation, deterministic ids, the embedded runtime's Ingest into nudge's schema).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, not an installed copy

from connectors.profile_import import import_profiles  # noqa: E402
from engine.runtimes.embedded import database  # noqa: E402

CITIES = ("Portland", "Lyon", "Osaka", "Recife", "Tartu")


def write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "email", "first_name", "city", "email_subscribed"])
        for n in range(count):
            out.writerow([f"c{n}", f"c{n}@example.com", f"Name{n % 997}", CITIES[n % 5], "true" if n % 3 else "false"])


def baseline(path: Path, db: Path) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE profiles (customer_id TEXT PRIMARY KEY, traits BLOB)")
    t0 = time.perf_counter()
    with path.open(newline="") as handle:
        rows = csv.DictReader(handle)
        batch: list[tuple[str, bytes]] = []
        for row in rows:
            customer = row.pop("customer_id")
            batch.append((customer, orjson.dumps(row)))
            if len(batch) == 5000:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO profiles VALUES (?, ?)", batch)
                conn.execute("COMMIT")
                batch.clear()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO profiles VALUES (?, ?)", batch)
        conn.execute("COMMIT")
    return time.perf_counter() - t0


def nudge_import(path: Path, db: Path) -> tuple[float, int, int]:
    database.create(db)
    t0 = time.perf_counter()
    summary = asyncio.run(import_profiles(database.connect(db), path))
    return time.perf_counter() - t0, summary.imported, len(summary.rejected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nudge-import-bench-") as tmp:
        folder = Path(tmp)
        source = folder / "profiles.csv"
        write_csv(source, options.profiles)
        base = baseline(source, folder / "bare.db")
        took, imported, rejected = nudge_import(source, folder / "nudge.db")
    n = options.profiles
    print(f"profiles: {n:,} ({imported:,} imported, {rejected} rejected)")
    print(f"baseline (csv + bare SQLite insert): {base:8.1f} s  {n / base:10,.0f} rows/s  ratio 1.000")
    print(f"nudge import profiles:               {took:8.1f} s  {n / took:10,.0f} rows/s  ratio {base / took:.3f}")


if __name__ == "__main__":
    main()
