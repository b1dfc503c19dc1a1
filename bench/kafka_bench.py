"""Kafka runtime: `nudge worker` throughput with one and with two workers, beside the engine alone.

    .venv/bin/python bench/kafka_bench.py --events 20000 --partitions 8 [--workers 1,2]

Uses the broker at NUDGE_KAFKA_BOOTSTRAP, else the one `scripts/kafka` runs (started here,
and stopped at the end, when it is not running). Every run gets its own app id, so its own
topics and consumer groups. The input is written before the workers start: N sign-ups of
distinct customers, each of which sends one email at once, so a run is done when the outbox
topic holds N messages. Reported, all in the same run:

- baseline: the engine alone (`simulate`, one process, no I/O) over the same N events: what
  a worker would do if Kafka cost nothing (issue #13's aim: one worker at 0.5x or more);
- the router alone: the worker's own per-input code (envelope, record codec, router, batch,
  table writes) on in-memory tables with a stand-in producer, no broker, in this process;
- a bare aiokafka consumer reading the same events topic from the start (the floor of I/O);
- per worker count: events/s from the workers' start to the N-th outbox message (start-up,
  group join and table recovery included), and over the processing span (first to last
  outbox message, by broker timestamps), with the ratio to the engine alone; the workers' CPU
  time per input over processing against the engine's (the ratio a loaded machine moves
  least: a worker's wall rate also waits for the cores it shares); and the
  changelog records the run wrote, per input, counted on the broker (end offsets of the
  tables' changelog topics).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import Event  # noqa: E402
from engine.links import SignedLinks  # noqa: E402
from engine.runtimes.kafka import envelopes  # noqa: E402
from engine.runtimes.kafka.batch import Batch  # noqa: E402
from engine.runtimes.kafka.producer import Acks  # noqa: E402
from engine.runtimes.kafka.router import Router, Topics  # noqa: E402
from engine.runtimes.kafka.store import Tables, partition_for  # noqa: E402
from engine.runtimes.kafka.worker import BATCH  # noqa: E402
from engine.runtimes.simulate import simulate  # noqa: E402
from engine.testing import email, write_workspace  # noqa: E402
from rules.events import parse_event  # noqa: E402
from rules.workspace import load_workspace  # noqa: E402
from tests.kafka_wire import live_workspace  # noqa: E402

TABLES = ("customers", "seen", "aliases", "suppressions", "progress", "experiments", "versions")  # worker.py's
JOURNEY = "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"


def workspace(root: Path) -> Path:
    return write_workspace(root / "ws", journeys={"hello": JOURNEY},
                           templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})


def signups(n: int) -> list[Event]:
    """N sign-ups of distinct customers, stamped now: each sends one email at once."""
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return [parse_event({"id": f"e{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": now,
                         "traits": {"email": f"c{i}@example.com", "first_name": f"C{i}"}}) for i in range(n)]


def engine_alone(ws: Path, events: list[Event]) -> tuple[float, float]:
    """Events/s of the engine over the inputs in this process (simulate: no I/O, no codecs), and
    its CPU seconds per input."""
    workspace = load_workspace(ws).workspace
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(workspace, events)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert sum(1 for r in result.records if r["type"] == "send") == len(events)
    return len(events) / took, cpu / len(events)


def router_alone(ws: Path, events: list[Event], partitions: int) -> tuple[float, float]:
    """(events/s, table writes per input) of the worker's per-input path on in-memory tables: the
    real Router and Batch, inputs taken per partition in batches of the worker's size."""
    tables = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
    router = Router(tables, live_workspace(ws, tables.progress), SignedLinks(b"bench", "https://bench.invalid"),
                    Topics("events", "records", "outbox", "dead"), partitions)
    inputs: dict[int, list[SimpleNamespace]] = {}
    for event in events:
        key = envelopes.key_of(event)
        partition = partition_for(key, partitions)
        inputs.setdefault(partition, []).append(SimpleNamespace(
            key=key.encode(), value=envelopes.event_envelope(event, time.time()), topic="events",
            partition=partition, offset=len(inputs.get(partition, []))))
    sent = 0

    async def run() -> int:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            nonlocal sent
            sent += 1  # acknowledged at once: nothing for `acks` to wait for

        writes = 0
        for messages in inputs.values():
            for start in range(0, len(messages), BATCH):
                batch = Batch(send, tables.progress, {}, records_topic="records")
                for message in messages[start:start + BATCH]:
                    if not batch.progress.admit(message.partition, message.offset):
                        raise SystemExit(f"input {message.partition}:{message.offset} not admitted")
                    batch.begin(SimpleNamespace(message=message))
                    router.route(message.value, message.key.decode(), message.partition, message.offset, batch)
                    batch.progress.advance(message.partition, message.offset)
                    await batch.release()
                await batch.flush()
                for table in (tables.seen, tables.aliases, tables.suppressions, tables.customers, tables.progress):
                    for key, value in batch.writes.written(table):
                        writes += 1
                        table[key] = value
        return writes

    t0 = time.perf_counter()
    writes = asyncio.run(run())
    took = time.perf_counter() - t0
    # an outbox message each, and a message of outcome records per partition per batch
    assert sent == len(events) + sum(len(range(0, len(m), BATCH)) for m in inputs.values()), sent
    return len(events) / took, writes / len(events)


async def prepare(bootstrap: str, app_id: str, partitions: int, events: list[Event]) -> str:
    """Creates the run's topics and writes the input; returns the events topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{app_id}.{name}", partitions, 1) for name in ("events", "records", "outbox")])
        # the tables' changelog topics too, so that "from its start" measures the worker's recovery and
        # group join, not the making of topics (a worker makes any that are missing: kafka/topics.py)
        await admin.create_topics([NewTopic(f"{app_id}-{table}-changelog", partitions, 1,
                                            topic_configs={"cleanup.policy": "compact"}) for table in TABLES])
    finally:
        await admin.close()
    topic = f"{app_id}.events"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        pending = [await producer.send(topic, key=envelopes.key_of(event).encode(),
                                       value=envelopes.event_envelope(event, time.time())) for event in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return topic


async def changelog_records(bootstrap: str, app_id: str, partitions: int) -> dict[str, int]:
    """Records written to each table's changelog topic in this run (their end offsets, summed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        counts = {}
        for topic in sorted(t for t in await consumer.topics() if t.startswith(f"{app_id}-") and t.endswith("-changelog")):
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
            counts[topic[len(app_id) + 1:-len("-changelog")]] = sum(ends.values())
        return counts
    finally:
        await consumer.stop()


async def drop_topics(bootstrap: str, app_id: str) -> None:
    """Deletes a finished run's topics: every worker refreshes the cluster's metadata every few
    seconds, at a cost that grows with the topics on the broker, which runs would otherwise pile up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith((f"{app_id}.", f"{app_id}-"))])
    finally:
        await admin.close()


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User and system CPU time the processes have used so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for p in procs:
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


async def consume(bootstrap: str, topic: str, n: int, timeout: float,
                  on_first: Any = None) -> tuple[float, float, float]:
    """Reads n records from the start: (wall seconds, first and last broker timestamp in s);
    `on_first()` is called when the first records arrive."""
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
                if not seen and on_first is not None:
                    on_first()
                seen += len(records)
                first = min(first, records[0].timestamp / 1000)
                last = max(last, records[-1].timestamp / 1000)
        return time.perf_counter() - t0, first, last
    finally:
        await consumer.stop()


def run_workers(code: Path, count: int, ws: Path, bootstrap: str, app_id: str, partitions: int, n: int,
                timeout: float, scratch: Path) -> tuple[float, float, float]:
    """Events/s with `count` workers running the checkout at `code`: from their start to the N-th
    message, and over processing; and the workers' CPU seconds from the first message to the
    N-th (all their threads): on a shared machine, the cost that the load moves least."""
    env = {**os.environ, "PYTHONPATH": str(code), "NUDGE_KAFKA_BOOTSTRAP": bootstrap, "NUDGE_KAFKA_APP_ID": app_id,
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
        started: list[float] = []
        _, first, last = asyncio.run(consume(bootstrap, f"{app_id}.outbox", n, timeout,
                                             lambda: started.append(cpu_seconds(procs))))
        return n / (time.perf_counter() - t0), n / max(last - first, 1e-3), cpu_seconds(procs) - started[0]
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
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--before", type=Path, action="append", default=[],
                        help="another checkout (e.g. a `git worktree` of an older commit) whose workers run on "
                             "the same input, alternately with this one's, for a before/after in one run")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each checkout and worker count, alternated")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take before it is abandoned")
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",") if c]
    bootstrap, started = ensure_broker()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            ws = workspace(scratch)
            events = signups(args.events)
            print(f"{args.events:,} sign-ups, {args.partitions} partitions, {os.cpu_count()} CPUs, "
                  f"load average {os.getloadavg()[0]:.2f} at the start")
            base, _ = engine_alone(ws, events)
            print(f"baseline: engine alone (simulate)        {base:>10,.0f} events/s  (1.000)")
            routed, writes = router_alone(ws, events, args.partitions)
            print(f"router alone, in-memory tables           {routed:>10,.0f} events/s  ({routed / base:.3f} x engine)"
                  f"  {writes:.2f} table writes per input")
            runs = [(count, code, f"bench{uuid.uuid4().hex[:8]}")
                    for _ in range(args.rounds) for count in counts for code in [*args.before, ROOT]]
            topics = [asyncio.run(prepare(bootstrap, app_id, args.partitions, events)) for _, _, app_id in runs]
            wall, _, _ = asyncio.run(consume(bootstrap, topics[0], args.events, args.timeout))
            print(f"bare aiokafka consumer                   {args.events / wall:>10,.0f} events/s")
            ratios: dict[tuple[int, str], list[float]] = {}
            cpu_ratios: dict[tuple[int, str], list[float]] = {}
            for count, code, app_id in runs:
                before, cpu_before = engine_alone(ws, events)  # just before and just after each run: the load moves
                overall, span, cpu = run_workers(code, count, ws, bootstrap, app_id, args.partitions, args.events,
                                            args.timeout, scratch)
                after, cpu_after = engine_alone(ws, events)
                base, engine_cpu = (before + after) / 2, (cpu_before + cpu_after) / 2
                logged = asyncio.run(changelog_records(bootstrap, app_id, args.partitions))
                asyncio.run(drop_topics(bootstrap, app_id))
                ratios.setdefault((count, code.name), []).append(span / base)
                cpu_ratios.setdefault((count, code.name), []).append(engine_cpu / (cpu / args.events))
                print(f"{count} worker{'s' if count > 1 else ' '} ({code.name}), engine alone around it {base:,.0f} events/s "
                      f"(load {os.getloadavg()[0]:.1f})")
                print(f"          start to last message   {overall:>10,.0f} events/s  ({overall / base:.3f} x engine)")
                print(f"          first to last message   {span:>10,.0f} events/s  ({span / base:.3f} x engine)")
                print(f"          worker CPU {1e6 * cpu / args.events:,.0f} µs per input  "
                      f"(the engine's {1e6 * engine_cpu:,.0f}: {cpu_ratios[count, code.name][-1]:.3f} x engine by CPU)")
                print(f"          changelog records per input {sum(logged.values()) / args.events:.3f}  "
                      + ", ".join(f"{table} {n:,}" for table, n in logged.items()))
            for (count, name), found in ratios.items():
                print(f"median over {len(found)} runs, {count} worker(s) ({name}), first to last message: "
                      f"{statistics.median(found):.3f} x engine alone; by CPU per input "
                      f"{statistics.median(cpu_ratios[count, name]):.3f}")
            print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], check=False)


if __name__ == "__main__":
    main()
