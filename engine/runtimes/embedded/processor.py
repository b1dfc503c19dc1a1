"""The engine loop of the embedded runtime: pending events and due timers, one transaction a batch.

Engine decisions, the outbox rows they create, new timers and outcome records commit
together with the events marked processed, so a crash replays nothing twice and loses
nothing: what was not committed is still pending.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import orjson

from engine.effects import Diagnostic, Effect, Exposure, Message, Timer, TimerKind
from engine.experiments import Experiment, ExperimentKey, experiments_of
from engine.machine import Engine, iso
from engine.migration import Edit, Plan
from engine.model import Workspace
from engine.ports import Links, Store
from engine.runtimes.embedded import broadcasts, bulk
from engine.runtimes.embedded import experiments as checks
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.sqlite_store import SqliteStore
from engine.runtimes.embedded.turns import turns_of
from engine.runtimes.kernel import applier, codecs, ordering
from engine.runtimes.kernel.codecs import from_epoch

log = logging.getLogger("nudge.engine")

EngineFactory = Callable[[Workspace, Store, Links], Engine]
"""Builds the engine for one batch: `Engine` itself, or a test's stand-in."""


@dataclass
class BatchResult:
    events: int = 0
    late: int = 0
    timers: int = 0
    messages: int = 0
    failed: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    planned: int = 0  # customers of a starting broadcast looked at (engine/runtimes/embedded/broadcasts.py)

    @property
    def work(self) -> int:
        return self.events + self.timers + self.failed + self.planned

    def add(self, other: BatchResult) -> None:
        self.events += other.events
        self.late += other.late
        self.timers += other.timers
        self.messages += other.messages
        self.failed += other.failed
        self.diagnostics += other.diagnostics


class FailedInput(Exception):
    """One event or timer could not be processed or saved: its batch is rolled back and it is set aside."""

    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref}")
        self.kind, self.ref = kind, ref


# inputs a batch takes at most: under a backlog each batch waits once for the writer lock (ingest's group commits hold
# it meanwhile) and reads, preloads and commits once; 2,000 drained the bench's backlog a sixth sooner than 500, and
# a light load makes small batches whatever the limit
BATCH = 2_000


class Processor:
    """Runs batches on its own connection; `workspace` may be swapped between batches."""

    def __init__(self, conn: sqlite3.Connection, workspace: Workspace, links: Links,
                 wall_clock: Callable[[], float], batch_size: int = BATCH, engine: EngineFactory = Engine,
                 broadcast_chunk: int = broadcasts.CHUNK) -> None:
        self.conn = conn
        self.engine = engine
        self.workspace = workspace
        self.links = links
        self.wall_clock = wall_clock
        self.batch_size = batch_size
        self.broadcast_chunk = broadcast_chunk
        self._lock = threading.Lock()  # batches and reload migrations share the connection
        self.turns = turns_of(conn)  # the writers a broadcast's start lets in between its chunks

    def run_batch(self) -> BatchResult:
        """Process what is ready now; returns what it did (zero work means idle). An input that
        cannot be processed or saved (a bug, or data the boundary let through) would otherwise
        stop every batch behind it: it is set aside in `failed_inputs` and the others go on. A
        batch that fails without naming its input is taken again one input per transaction, so
        the culprit is found; only a database error (locked, disk) is left to the caller."""
        with self._lock:
            planned = 0
            if (start := broadcasts.next_start(self.conn)) is not None and start <= self.wall_clock():
                planned = self._start_broadcasts()
                self.turns.give_way(broadcasts.PATIENCE)  # events accepted meanwhile are in this batch:
            result = self._inputs(locked=planned > 0)    # read once they are committed, with the lock held
            result.planned = planned
        return result

    def _inputs(self, locked: bool) -> BatchResult:
        try:
            return self._attempt(self.batch_size, locked)
        except sqlite3.OperationalError:
            raise
        except Exception:
            log.exception("a batch failed outside any one input; taking its inputs one at a time")
        total = BatchResult()
        for _ in range(self.batch_size):
            result = self._attempt(1, locked)
            total.add(result)
            if not result.work:
                break
        return total

    def _attempt(self, limit: int, locked: bool) -> BatchResult:
        try:
            return self._run_batch(limit, locked)
        except FailedInput as failed:
            log.error("%s set aside in failed_inputs", failed, exc_info=failed.__cause__)
            self._set_aside(failed)
            return BatchResult(failed=1)

    def _set_aside(self, failed: FailedInput) -> None:
        conn, error = self.conn, failed.__cause__
        with transaction(conn):
            if failed.kind == "event":
                (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (int(failed.ref),)).fetchone()
                conn.execute("UPDATE events SET status = 'failed' WHERE seq = ?", (int(failed.ref),))
            else:
                row = conn.execute("SELECT due, key, kind, journey, token FROM timers WHERE id = ?",
                                   (failed.ref,)).fetchone()
                body = orjson.dumps(dict(zip(("id", "due", "key", "kind", "journey", "token"), (failed.ref, *row))))
                conn.execute("DELETE FROM timers WHERE id = ?", (failed.ref,))
            conn.execute("INSERT INTO failed_inputs (at, kind, ref, body, error) VALUES (?, ?, ?, ?, ?)",
                         (self.wall_clock(), failed.kind, failed.ref, body, f"{type(error).__name__}: {error}"))

    def migrate(self, workspace: Workspace, *, version: str | None = None, reschedule: bool = False,
                proceed: Callable[[Plan], bool] = lambda plan: True) -> tuple[Plan, bool]:
        """Plan an edit over every customer in flight and, when `proceed` agrees with the plan, swap the
        workspace in, carry the plan out and record `version` as the one running (meta `workspace_version`),
        in one transaction: no input comes between."""
        with self._lock:
            return self._migrate(Edit(self.workspace, workspace, reschedule), version, proceed)

    def version(self) -> str | None:
        """The workspace version the customers in flight were last placed for (None: not recorded yet)."""
        with self._lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'workspace_version'").fetchone()
        return None if row is None else str(row[0])

    def next_due(self) -> float | None:
        """The next timer, or the next broadcast's start."""
        with self._lock:
            row = self.conn.execute("SELECT MIN(due) FROM timers").fetchone()
            start = broadcasts.next_start(self.conn)
        due = row[0] if row and row[0] is not None else None
        return min((t for t in (due, start) if t is not None), default=None)

    def _start_broadcasts(self) -> int:
        """Entry timers of the next chunk of customers of a broadcast whose start has come, in one transaction."""
        with transaction(self.conn):
            writer = _Rows(self.conn, experiments_of(self.workspace))
            planned = broadcasts.start_due(self.conn, self.workspace, self.wall_clock(), writer, self.broadcast_chunk)
            writer.flush()
        return planned

    def schedule_broadcast(self, broadcast_id: str, now: bool = False) -> dict[str, Any]:
        """Add a broadcast to those this database sends (engine/runtimes/embedded/broadcasts.py `schedule`)."""
        with self._lock, transaction(self.conn):
            return broadcasts.schedule(self.conn, self.workspace, broadcast_id, self.wall_clock(), now)

    def cancel_broadcast(self, broadcast_id: str) -> dict[str, int]:
        """Stop a broadcast (engine/runtimes/embedded/broadcasts.py `cancel`) between two batches."""
        with self._lock, transaction(self.conn):
            store = SqliteStore(self.conn)
            writer = _Rows(self.conn, experiments_of(self.workspace))
            engine = self.engine(self.workspace, store, self.links)
            done = broadcasts.cancel(self.conn, engine, broadcast_id, self.wall_clock(), writer)
            store.flush()
            writer.flush()
        return done

    def _run_batch(self, limit: int, locked: bool = False) -> BatchResult:
        """Up to `limit` inputs in journey-time order (SPEC §14): pending events by acceptance (their
        `received_at` never goes back), interleaved with due timers; a timer fires only when no
        event still waiting has a journey time at or before its due time, however long the backlog.

        The engine works on a read snapshot with the write lock free (ingest's group commits go on
        meanwhile), and takes the lock only to write what it decided, once it has checked that no
        erasure came in between: the one change another writer makes, while a server runs, to what a
        batch reads (new events only add rows after those taken; everything else is this engine's).
        A winner check, which reads what is committed and writes as it goes, and a batch an erasure
        overtook, are worked out again with the lock held, as is one that must see the writes of those
        it has just waited for (`locked`)."""
        conn = self.conn
        batch: _Batch | _Alone | None = _ALONE
        erased: str | None = None
        if not locked:
            conn.execute("BEGIN")  # deferred: a snapshot from the first read, no write lock
            try:
                erased = erasures(conn)
                batch = self._decide(limit, snapshot=True)
            finally:
                conn.execute("ROLLBACK")  # nothing was written: the snapshot is let go
        if batch is None:
            return BatchResult()
        if isinstance(batch, _Batch):
            with transaction(conn):
                if erasures(conn) == erased and still_to_do(conn, batch):
                    return self._write(batch)
        with transaction(conn):
            batch = self._decide(limit, snapshot=False)
            return self._write(batch) if isinstance(batch, _Batch) else BatchResult()

    def _decide(self, limit: int, snapshot: bool) -> _Batch | _Alone | None:
        """The batch's inputs through the engine, its writes kept (None: nothing to do); on a `snapshot`, a
        batch that is a winner check is `_ALONE`, left for the lock."""
        conn = self.conn
        now = self.wall_clock()
        events = conn.execute(
            "SELECT seq, body, received_at, customer FROM events WHERE status = 'pending' ORDER BY seq LIMIT ?",
            (limit + 1,)).fetchall()
        cutoff = events.pop()[2] if len(events) > limit else math.inf  # the first event left waiting
        timers = conn.execute(
            "SELECT id, due, key, kind, journey, token FROM timers WHERE due <= ? AND due < ? "
            "ORDER BY due, rowid LIMIT ?", (now, cutoff, limit)).fetchall()
        work: list[tuple[float, int, int, Any]] = [(received_at, ordering.EVENT, seq, body)
                                                   for seq, body, received_at, _ in events]
        # a winner check goes after the customers' timers due at its time, as in simulate
        work += [(due, ordering.TIMER, n + (len(timers) if kind == TimerKind.WINNER else 0),
                  (tid, codecs.timer_from_row(due, key, kind, journey, token)))
                 for n, (tid, due, key, kind, journey, token) in enumerate(timers)]
        work.sort(key=lambda w: ordering.input_order(w[0], w[1], w[2]))
        del work[limit:]
        # a winner check reads what is committed: it waits for the inputs before it, and goes alone
        check = next((n for n, w in enumerate(work) if w[1] == ordering.TIMER and w[3][1].kind == TimerKind.WINNER), None)
        if check is not None:
            if check == 0 and snapshot:
                return _ALONE
            del work[max(check, 1):]
        if not work:
            return None
        store = SqliteStore(conn)
        store.preload([key for _, _, _, key in events] + [timer[2] for timer in timers])
        engine = self.engine(self.workspace, store, self.links)
        experiments = experiments_of(self.workspace)
        batch = _Batch(store, _Rows(conn, experiments), len(work))
        writer, result = batch.writer, batch.result
        joinable = broadcasts.joinable(conn, self.workspace, now)  # a customer new in this batch may join them
        for when, kind, seq, item in work:
            batch.taken = (when, kind, seq, item)
            try:
                if kind == ordering.EVENT:
                    event, late = ordering.received(codecs.event_from_row(item), from_epoch(when), self.workspace)
                    new = joinable and event.customer_id is not None and store.customer(event.customer_id) is None
                    writer.write(engine.handle_event(event, late=late), origin=when)
                    if new and (state := store.customer(str(event.customer_id))) is not None:
                        writer.write(broadcasts.newcomer(joinable, state, self.workspace, from_epoch(when)), origin=when)
                    (batch.late if late else batch.done).append(seq)
                    result.events += 1
                elif item[1].kind == TimerKind.WINNER:
                    tid, timer = item
                    self._check(writer, experiments.get((timer.journey, timer.token)), timer)
                    batch.fired.append((tid,))
                    result.timers += 1
                else:
                    tid, timer = item
                    writer.write(engine.fire(timer, timer.due), origin=when)
                    batch.fired.append((tid,))
                    result.timers += 1
                store.settle()  # its state encoded now: one that cannot be saved is known by its input
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                raise batch.failed() from exc
        return batch

    def _write(self, batch: _Batch) -> BatchResult:
        """What `_decide` kept, in the caller's transaction."""
        conn, result, writer = self.conn, batch.result, batch.writer
        try:
            # fired timers go before the batch's new ones are written: a re-armed plan may reuse an id
            conn.executemany("DELETE FROM timers WHERE id = ?", batch.fired)
            bulk.where_in(conn, "UPDATE events SET status = 'processed' WHERE seq IN ({})", batch.done)
            bulk.where_in(conn, "UPDATE events SET status = 'late' WHERE seq IN ({})", batch.late)
            batch.store.flush()
            writer.flush()
        except sqlite3.OperationalError:
            raise
        except Exception as exc:
            if batch.size == 1 and batch.taken is not None:
                raise batch.failed() from exc
            raise
        result.late = len(batch.late)
        result.messages = writer.messages
        result.diagnostics = writer.diagnostics
        for d in writer.diagnostics:
            log.warning("journey %s step %s customer %s: %s", d.journey, d.step, d.customer_id, d.message)
        return result

    def _check(self, writer: _Rows, experiment: Experiment | None, timer: Timer) -> None:
        """An experiment's check (SPEC §11): its winner recorded, or the next check set; nothing
        when the step is gone (a live edit) or already decided."""
        if experiment is None:
            return
        decision = checks.check(self.conn, experiment, timer.due)
        if decision is None:
            return
        if decision.winner is not None:
            writer.record(decision.record(iso(timer.due)))
        elif decision.next_at is not None:
            writer.schedule(checks.check_timer(timer.journey, timer.token, decision.next_at))

    def _migrate(self, edit: Edit, version: str | None, proceed: Callable[[Plan], bool]) -> tuple[Plan, bool]:
        with transaction(self.conn):
            keys = [k for (k,) in self.conn.execute("SELECT key FROM customers WHERE active > 0")]
            store = SqliteStore(self.conn)
            now = from_epoch(self.wall_clock())
            plan = edit.plan((s for k in keys if (s := store.customer(k)) is not None), now)
            if not proceed(plan):
                return plan, False
            engine = self.engine(edit.new, store, self.links)
            writer = _Rows(self.conn, experiments_of(edit.new))
            for key in keys:
                writer.write(engine.migrate(key, now, edit), origin=self.wall_clock())
            store.flush()
            writer.flush()
            if version is not None:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('workspace_version', ?)", (version,))
        self.workspace = edit.new
        return plan, True


@dataclass
class _Batch:
    """A batch worked out and not yet written: its store's and rows' writes, the inputs it took."""

    store: SqliteStore
    writer: _Rows
    size: int
    result: BatchResult = field(default_factory=BatchResult)
    done: list[int] = field(default_factory=list)  # events' seqs
    late: list[int] = field(default_factory=list)
    fired: list[tuple[str]] = field(default_factory=list)
    taken: tuple[float, int, int, Any] | None = None  # the last input taken: the one a failed write of a batch of one names

    def failed(self) -> FailedInput:
        """The last input taken, as the failure that sets it aside (made only then: a batch takes thousands)."""
        assert self.taken is not None
        _, kind, seq, item = self.taken
        return FailedInput("event", str(seq)) if kind == ordering.EVENT else FailedInput("timer", item[0])


class _Alone:
    """A batch that is a winner check: worked out with the lock held."""


_ALONE = _Alone()


def erasures(conn: sqlite3.Connection) -> str | None:
    """How many erasures there have been (queries.erase counts them): a batch worked out on a snapshot is
    written only if none came in between."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'erasures'").fetchone()
    return None if row is None else str(row[0])


class _Rows:
    """A batch's effects as rows, written at the end of its transaction."""

    def __init__(self, conn: sqlite3.Connection, experiments: Mapping[ExperimentKey, Experiment]) -> None:
        self.conn = conn
        self.experiments = experiments
        self.exposures: list[Exposure] = []
        self.origin = 0.0  # when the input being applied came: its messages' latency starts there
        self.timers: list[tuple[Any, ...]] = []
        self.cancelled: list[tuple[str]] = []
        self.outbox: list[tuple[Any, ...]] = []
        self.rows: list[tuple[Any, ...]] = []
        self.diagnostics: list[Diagnostic] = []

    @property
    def messages(self) -> int:
        return len(self.outbox)

    @property
    def records(self) -> int:
        return len(self.rows)

    def write(self, effects: list[Effect], origin: float) -> None:
        if effects:  # most events (a page view) have none
            self.origin = origin
            applier.apply(effects, self)

    def record(self, record: dict[str, Any]) -> None:
        self.rows.append(codecs.record_row(record))

    def dispatch(self, message: Message) -> None:
        self.outbox.append(codecs.outbox_row(codecs.message_payload(message), self.origin))

    def schedule(self, timer: Timer) -> None:
        self.timers.append((timer.id, codecs.epoch(timer.due), timer.key, timer.kind, timer.journey, timer.token))

    def unschedule(self, timer_id: str) -> None:
        self.cancelled.append((timer_id,))

    def diagnose(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def expose(self, exposure: Exposure) -> None:
        self.exposures.append(exposure)

    def flush(self) -> None:
        bulk.insert(self.conn, "INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?, ?, ?)", self.timers)
        self.conn.executemany("DELETE FROM timers WHERE id = ?", self.cancelled)  # after: it may be this batch's
        bulk.insert(self.conn, codecs.OUTBOX_INSERT, self.outbox)
        bulk.insert(self.conn, codecs.RECORD_INSERT, self.rows)
        checks.note(self.conn, self.exposures, self.experiments)


def still_to_do(conn: sqlite3.Connection, batch: _Batch) -> bool:
    """Whether the inputs a batch was worked out for are all still waiting (its events pending, its timers
    there): another engine on the same file (which the server never starts, but a leftover one could be)
    took none of them, so its writes cannot repeat that engine's."""
    seqs = batch.done + batch.late
    fired = [tid for (tid,) in batch.fired]
    def count(query: str, values: list[Any]) -> int:  # a batch (2,000) has more than an old SQLite binds at once
        chunks = (values[start:start + bulk.MARKS] for start in range(0, len(values), bulk.MARKS))
        return sum(int(conn.execute(query.format(",".join("?" * len(chunk))), chunk).fetchone()[0]) for chunk in chunks)

    return (count("SELECT COUNT(*) FROM events WHERE status = 'pending' AND seq IN ({})", seqs) == len(seqs)
            and count("SELECT COUNT(*) FROM timers WHERE id IN ({})", fired) == len(fired))
