"""Kafka runtime: `nudge worker` throughput with one and with two workers, beside a bare consumer.

    .venv/bin/python bench/kafka_bench.py --events 20000 --partitions 8

Uses the broker at NUDGE_KAFKA_BOOTSTRAP, else the one `scripts/kafka` runs (started here,
and stopped at the end, when it is not running). Every run gets its own app id, so its own
topics and consumer groups. The input is written before the workers start: N sign-ups of
distinct customers, each of which sends one email at once, so a run is done when the outbox
topic holds N messages. Reported, all in the same run:

- baseline: a bare aiokafka consumer reading the same events topic from the start;
- per worker count: events/s from the workers' start to the N-th outbox message (start-up,
  group join and table recovery included), and over the processing span (first to last
  outbox message, by broker timestamps), with the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.runtimes.kafka import envelopes  # noqa: E402
from engine.testing import email, write_workspace  # noqa: E402
from rules.events import parse_event  # noqa: E402

JOURNEY = "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"


def workspace(root: Path) -> Path:
    return write_workspace(root / "ws", journeys={"hello": JOURNEY},
                           templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})


async def prepare(bootstrap: str, app_id: str, partitions: int, n: int) -> str:
    """Creates the run's topics and writes the input; returns the events topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{app_id}.{name}", partitions, 1) for name in ("events", "records", "outbox")])
    finally:
        await admin.close()
    topic = f"{app_id}.events"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        pending = []
        for i in range(n):
            event = parse_event({"id": f"e{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": now,
                                 "traits": {"email": f"c{i}@example.com", "first_name": f"C{i}"}})
            pending.append(await producer.send(topic, key=envelopes.key_of(event).encode(),
                                               value=envelopes.event_envelope(event, time.time())))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return topic


async def consume(bootstrap: str, topic: str, n: int, timeout: float) -> tuple[float, float, float]:
    """Reads n records from the start: (wall seconds, first and last broker timestamp in s)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"bench-{uuid.uuid4().hex[:8]}", enable_auto_commit=False)
    await consumer.start()
    t0 = time.perf_counter()
    seen, first, last = 0, float("inf"), 0.0
    try:
        while seen < n:
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"{topic}: only {seen} of {n} records within {timeout:.0f}s")
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                seen += len(records)
                first = min(first, records[0].timestamp / 1000)
                last = max(last, records[-1].timestamp / 1000)
        return time.perf_counter() - t0, first, last
    finally:
        await consumer.stop()


def run_workers(count: int, ws: Path, bootstrap: str, app_id: str, partitions: int, n: int, timeout: float,
                scratch: Path) -> tuple[float, float]:
    """Events/s with `count` workers: from their start to the N-th message, and over processing."""
    env = {**os.environ, "NUDGE_KAFKA_BOOTSTRAP": bootstrap, "NUDGE_KAFKA_APP_ID": app_id,
           "NUDGE_KAFKA_PARTITIONS": str(partitions), "NUDGE_LOG_LEVEL": "warning",
           "NUDGE_LINK_SECRET": os.environ.get("NUDGE_LINK_SECRET", "bench-link-secret")}
    procs = []
    t0 = time.perf_counter()
    try:
        for i in range(count):
            data = scratch / f"{app_id}-w{i}"
            data.mkdir()
            procs.append(subprocess.Popen([sys.executable, "-m", "engine", "worker", "-w", str(ws)],
                                          env={**env, "NUDGE_KAFKA_DATA_DIR": str(data)}, cwd=data,
                                          stdout=(data / "log").open("wb"), stderr=subprocess.STDOUT))
        _, first, last = asyncio.run(consume(bootstrap, f"{app_id}.outbox", n, timeout))
        return n / (time.perf_counter() - t0), n / max(last - first, 1e-3)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def ensure_broker() -> tuple[str, bool]:
    """(bootstrap, whether this run started the broker and must stop it)."""
    given = os.environ.get("NUDGE_KAFKA_BOOTSTRAP")
    if given:
        return given, False
    script = str(ROOT / "scripts" / "kafka")
    port = os.environ.get("NUDGE_KAFKA_PORT", "9092")
    if subprocess.run([script, "status"], capture_output=True).returncode == 0:
        return f"127.0.0.1:{port}", False
    subprocess.run([script, "start"], check=True)
    return f"127.0.0.1:{port}", True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take before it is abandoned")
    args = parser.parse_args()
    bootstrap, started = ensure_broker()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            ws = workspace(scratch)
            runs = {count: f"bench{uuid.uuid4().hex[:8]}" for count in (1, 2)}
            topics = {count: asyncio.run(prepare(bootstrap, app_id, args.partitions, args.events))
                      for count, app_id in runs.items()}
            wall, _, _ = asyncio.run(consume(bootstrap, topics[1], args.events, args.timeout))
            base = args.events / wall
            print(f"{args.events:,} events, {args.partitions} partitions, {os.cpu_count()} CPUs")
            print(f"baseline: bare aiokafka consumer          {base:>10,.0f} events/s")
            for count, app_id in runs.items():
                overall, span = run_workers(count, ws, bootstrap, app_id, args.partitions, args.events, args.timeout,
                                            scratch)
                print(f"{count} worker{'s' if count > 1 else ' '}: start to last message    {overall:>10,.0f} events/s"
                      f"  ({overall / base:.3f} x baseline)")
                print(f"          first to last message   {span:>10,.0f} events/s  ({span / base:.3f} x baseline)")
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], check=False)


if __name__ == "__main__":
    main()
