"""Embedded runtime: sustained HTTP ingest and event-to-send latency, beside bare SQLite inserts.

    .venv/bin/python bench/ingest_bench.py --events 100000 --rate 2000 --seconds 10

Starts `nudge run` on a copy of the demo workspace. Reports (1) the baseline: the same rows
inserted into a bare SQLite table in batches of 500; (2) sustained ingest over HTTP in
batches of 500 (accepted/s) and end-to-end processing (events/s until the backlog is empty);
(3) at a steady rate, the latency from receipt to the provider hand-off (p50/p99), read from
the outbox rows of the welcome email each sign-up triggers: `sent_at - origin`, where `origin`
is the event's `received_at` (stamped when ingest takes it, before its commit) and `sent_at`
when the connector took the message. It spans the group commit, the wait for the engine, the
engine's batch and its commit, and the dispatcher's claim and hand-off.

The machine's load average is printed at the start and the end: on a shared machine the
figures move with it, the ratio to the baseline much less, and the CPU time per event (the server's,
split between its event loop and its threads, and its engine process's, read from /proc over the sustained
phase) least. The copy has no quiet hours (the demo's
hold marketing email from 21:00 to 08:00 UTC), so the latency can be measured at any hour.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"


def event(n: int, kind: str = "page_viewed") -> dict[str, object]:
    c = f"b{n % 50_000}"
    return {"id": f"bench-{uuid.uuid4().hex}", "type": kind, "customer_id": c,
            "properties": {"page": "home"}, "traits": {"email": f"{c}@example.com", "first_name": "B"}}


def baseline(rows: list[bytes], db: Path) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body BLOB)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), 500):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events (id, body) VALUES (?, ?)", [(str(uuid.uuid4()), r) for r in rows[i:i + 500]])
        conn.execute("COMMIT")
    return len(rows) / (time.perf_counter() - t0)


def without_quiet_hours(config: Path) -> None:
    """The welcome emails of the latency run go out at once, whatever the hour."""
    config.write_text(re.sub(r"(?m)^  quiet_hours: .*\n", "", config.read_text()))


def start(workspace: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NUDGE_API_KEYS": KEY, "NUDGE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run", "-w", str(workspace), "--db", str(db),
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("nudge run did not start")


async def sustained(url: str, total: int, concurrency: int = 4) -> float:
    batches = [[event(n) for n in range(i, min(i + 500, total))] for i in range(0, total, 500)]
    queue: asyncio.Queue[list[dict[str, object]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            r = await client.post("/v1/events", content=orjson.dumps(batch))
            assert r.status_code == 202, r.text

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User and system CPU of a process so far, or of one of its threads (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_of(pids: list[int]) -> list[float]:
    return [cpu_seconds(p) for p in pids]


def drain(url: str, started: float) -> float:
    while True:
        health = httpx.get(url + "/healthz", timeout=10).json()
        if health["events_pending"] == 0:
            return time.perf_counter() - started
        time.sleep(0.05)


async def steady(url: str, rate: int, seconds: int) -> list[str]:
    """A storefront's mix at a steady rate, in groups of 10 every 10/rate seconds: one sign-up
    (which sends a welcome email at once) and nine page views. Returns the sign-ups' customers."""
    ids: list[str] = []
    interval = 10 / rate
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        t0 = time.perf_counter()
        tasks = []
        for tick in range(int(seconds * rate / 10)):
            group = []
            for k in range(10):
                e = event(1_000_000 + tick * 10 + k, "signed_up" if k == 0 else "page_viewed")
                if k == 0:
                    e["customer_id"] = f"lat{tick}"
                    ids.append(str(e["customer_id"]))
                group.append(e)
            tasks.append(asyncio.create_task(client.post("/v1/events", content=orjson.dumps(group))))
            await asyncio.sleep(max(0.0, t0 + (tick + 1) * interval - time.perf_counter()))
        for r in await asyncio.gather(*tasks):
            assert r.status_code == 202, r.text
    return ids


def latencies(db: Path, customers: list[str]) -> list[float]:
    conn = sqlite3.connect(db)
    wanted = set(customers)
    deadline = time.time() + 120
    while time.time() < deadline:
        rows = conn.execute("SELECT customer, sent_at - origin FROM outbox WHERE journey = 'welcome' AND status = 'sent' "
                            "AND customer LIKE 'lat%'").fetchall()
        if len(rows) >= len(wanted):
            return sorted(v for c, v in rows if c in wanted)
        time.sleep(0.2)
    raise SystemExit("not every latency message was sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as tmp:
        work = Path(tmp)
        rows = [orjson.dumps(event(n)) for n in range(args.events)]
        base = baseline(rows, work / "baseline.db")
        workspace = work / "ws"
        shutil.copytree(ROOT, workspace, ignore=shutil.ignore_patterns(".venv", ".git", "*.db*", "outbox", "tests", "bench"))
        without_quiet_hours(workspace / "journeys.yaml")
        proc = start(workspace, work / "nudge.db", args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            pids = [proc.pid, *children(proc.pid)]  # the server and its engine process (when it has one)
            before, loop_before = cpu_of(pids), cpu_seconds(proc.pid, proc.pid)
            t0 = time.perf_counter()
            ingest = asyncio.run(sustained(url, args.events))
            processed = args.events / drain(url, t0)
            used = [(b - a) / args.events * 1e6 for a, b in zip(before, cpu_of(pids))]
            loop = (cpu_seconds(proc.pid, proc.pid) - loop_before) / args.events * 1e6  # the server's main thread
            customers = asyncio.run(steady(url, args.rate, args.seconds))
            lat = latencies(work / "nudge.db", customers)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"load average {os.getloadavg()[0]:.2f} at the end ({load:.2f} at the start)")
    p50 = statistics.quantiles(lat, n=100)[49] * 1000
    p99 = statistics.quantiles(lat, n=100)[98] * 1000
    print(f"baseline: bare SQLite inserts, batches of 500: {base:>10,.0f} rows/s")
    print(f"HTTP ingest, batches of 500, 4 clients:        {ingest:>10,.0f} events/s  ({ingest / base:.3f} of baseline)")
    print(f"ingested and processed (backlog empty):        {processed:>10,.0f} events/s  ({processed / base:.3f} of baseline)")
    print("CPU per event over that: " + ", ".join(f"{name} {us:.0f} us" for name, us in
                                                  zip(("server", "engine process"), used)))
    print(f"  the server's event loop (HTTP, SPEC §8 checks) {loop:.0f} us, its other threads (ingest's inserts and "
          f"commits, the API's queries) {used[0] - loop:.0f} us")
    print(f"receipt to hand-off at {args.rate} events/s ({len(lat)} sends): p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
