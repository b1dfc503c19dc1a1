"""Reads and erasure on the embedded store, for the HTTP API and the CLI."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import orjson

from engine import state_codec
from engine.runtimes.embedded.database import transaction
from engine.state import anon_key


def customer_view(conn: sqlite3.Connection, customer_id: str, recent: int = 20) -> dict[str, Any] | None:
    """Traits, activity, journeys in flight (step, next wake-up) and recent messages."""
    row = conn.execute("SELECT state FROM customers WHERE key = ?", (customer_id,)).fetchone()
    if row is None:
        return None
    state = state_codec.loads(row[0])
    messages = []
    for mid, channel, journey, step, status, payload, error in conn.execute(
            "SELECT id, channel, journey, step, status, payload, error FROM outbox WHERE customer = ? "
            "ORDER BY seq DESC LIMIT ?", (customer_id, recent)):
        body = orjson.loads(payload)
        messages.append({"id": mid, "at": body.get("at"), "channel": channel, "journey": journey, "step": step,
                         "status": status, "to": body.get("to"), "subject": body.get("subject"), "error": error})
    return {
        "customer_id": customer_id,
        "traits": state.traits,
        "activity": state.activity,
        "journeys": [
            {"journey": i.journey, "step": i.step_id or None, "entered_at": i.entered_at, "waiting": i.waiting,
             "next_wake_up": i.due, "variants": i.variants}
            for i in state.instances.values()
        ],
        "messages": messages,
    }


def customer_known(conn: sqlite3.Connection, customer_id: str) -> bool:
    return conn.execute("SELECT 1 FROM customers WHERE key = ?", (customer_id,)).fetchone() is not None


def erase(conn: sqlite3.Connection, customer_id: str, own_transaction: bool = True) -> bool:
    """GDPR erasure: profile, events, journey state and timers go; messages keep no personal data."""
    with transaction(conn) if own_transaction else contextlib.nullcontext():
        anonymous = [a for (a,) in conn.execute("SELECT anonymous_id FROM aliases WHERE customer_id = ?", (customer_id,))]
        keys = [customer_id, *(anon_key(a) for a in anonymous)]
        marks = ",".join("?" * len(keys))
        found = conn.execute(f"SELECT COUNT(*) FROM customers WHERE key IN ({marks})", keys).fetchone()[0]
        conn.execute(f"DELETE FROM customers WHERE key IN ({marks})", keys)
        # counted: an engine batch worked out on a snapshot taken before this is written only if none came since
        conn.execute("INSERT INTO meta VALUES ('erasures', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1")
        conn.execute(f"UPDATE events SET body = x'7b7d', status = 'erased', customer = NULL WHERE customer IN ({marks})", keys)
        conn.execute(f"DELETE FROM timers WHERE key IN ({marks})", keys)
        conn.execute(f"DELETE FROM exposures WHERE customer IN ({marks})", keys)  # they leave the experiments
        conn.execute("DELETE FROM aliases WHERE customer_id = ?", (customer_id,))
        # records name an anonymous profile by its bare id; its messages carry no customer id
        owners = [customer_id, *anonymous]
        owner_marks = ",".join("?" * len(owners))
        messages = [m for (m,) in conn.execute(
            f"SELECT json_extract(body, '$.message_id') FROM records WHERE customer IN ({owner_marks}) "
            "AND type = 'send'", owners) if m]
        conn.execute(
            "UPDATE outbox SET payload = json_object('id', id, 'channel', channel, 'journey', journey, 'step', step, "
            "'erased', json('true')), customer = NULL, "
            "status = CASE WHEN status IN ('pending', 'in_doubt') THEN 'erased' ELSE status END "
            f"WHERE customer = ? OR id IN ({','.join('?' * len(messages)) or 'NULL'})", (customer_id, *messages))
        conn.execute(
            "UPDATE records SET customer = NULL, body = json_remove(body, '$.customer_id', '$.anonymous_id', '$.to', "
            f"'$.subject', '$.text') WHERE customer IN ({owner_marks})", owners)
    return bool(found)


def counts(conn: sqlite3.Connection) -> dict[str, Any]:
    """Numbers for /healthz and /metrics, read at scrape time."""
    by_status = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
    pending, oldest = conn.execute(  # the first pending by seq is the oldest: ingest stamps in seq order, never back
        "SELECT (SELECT COUNT(*) FROM events WHERE status = 'pending'), "
        "(SELECT received_at FROM events WHERE status = 'pending' ORDER BY seq LIMIT 1)").fetchone()
    timers = conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0]
    return {"messages": by_status, "events_pending": pending, "oldest_pending_received_at": oldest,
            "timers_pending": timers}


def in_flight(conn: sqlite3.Connection) -> list[Any]:
    """Every customer with a journey in flight, for `nudge plan`."""
    return [state_codec.loads(blob) for (blob,) in conn.execute("SELECT state FROM customers WHERE active > 0")]


def outbox_rows(conn: sqlite3.Connection, status: str | None, limit: int) -> list[dict[str, Any]]:
    sql = "SELECT id, status, channel, journey, step, attempts, error, payload FROM outbox"
    params: tuple[Any, ...] = ()
    if status:
        sql += " WHERE status = ?"
        params = (status,)
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall()
    result = []
    for mid, st, channel, journey, step, attempts, error, payload in rows:
        body = orjson.loads(payload)
        result.append({"id": mid, "status": st, "channel": channel, "journey": journey, "step": step,
                       "to": body.get("to"), "at": body.get("at"), "attempts": attempts, "error": error})
    return result


def _chosen(ids: list[str] | None, reason: str | None) -> tuple[str, tuple[Any, ...]]:
    """The operator's choice as SQL: these ids, or errors containing `reason`, or (neither) every one."""
    if ids is not None:
        return f" AND id IN ({','.join('?' * len(ids)) or 'NULL'})", tuple(ids)
    if reason:
        return " AND instr(lower(error), lower(?)) > 0", (reason,)
    return "", ()


def requeue_dead(conn: sqlite3.Connection, ids: list[str] | None = None, reason: str | None = None) -> list[str]:
    """Dead messages back to pending with a fresh set of attempts (after an outage or a fix); returns their ids.

    Messages whose data was erased stay dead: there is nobody left to send them to.
    """
    where, params = _chosen(ids, reason)
    with transaction(conn):
        chosen = [m for (m,) in conn.execute(
            "SELECT id FROM outbox WHERE status = 'dead' AND json_extract(CAST(payload AS TEXT), '$.erased') IS NULL"
            + where, params)]
        conn.executemany("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = 0 WHERE id = ?",
                         [(m,) for m in chosen])
    return chosen


def resolve_in_doubt(conn: sqlite3.Connection, outcome: str, ids: list[str] | None = None) -> list[str]:
    """An operator's verdict on in-doubt messages (these ids, or all): `sent` (the provider has them) or `resend`."""
    status = {"sent": "sent", "resend": "pending"}[outcome]
    where, params = _chosen(ids, None)
    with transaction(conn):
        chosen = [m for (m,) in conn.execute("SELECT id FROM outbox WHERE status = 'in_doubt'" + where, params)]
        conn.executemany("UPDATE outbox SET status = ?, next_attempt = 0 WHERE id = ?", [(status, m) for m in chosen])
    return chosen


def failed_inputs(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Events and timers the engine failed on (set aside by the processor), oldest first."""
    rows = conn.execute("SELECT seq, at, kind, ref, body, error FROM failed_inputs ORDER BY seq LIMIT ?", (limit,))
    return [{"seq": seq, "at": at, "kind": kind, "ref": ref, "body": orjson.loads(body), "error": error}
            for seq, at, kind, ref, body, error in rows]


def retry_failed(conn: sqlite3.Connection) -> int:
    """After a fix: failed events go back to pending and failed timers back to the timers table
    (a due time already past fires at once); returns how many."""
    with transaction(conn):
        rows = conn.execute("SELECT kind, ref, body FROM failed_inputs").fetchall()
        for kind, ref, body in rows:
            if kind == "event":
                conn.execute("UPDATE events SET status = 'pending' WHERE seq = ? AND status = 'failed'", (int(ref),))
            else:
                t = orjson.loads(body)
                conn.execute("INSERT OR IGNORE INTO timers (id, due, key, kind, journey, token) VALUES (?, ?, ?, ?, ?, ?)",
                             (t["id"], t["due"], t["key"], t["kind"], t["journey"], t["token"]))
        conn.execute("DELETE FROM failed_inputs")
    return len(rows)


def customer_by_address(conn: sqlite3.Connection, email: str | None = None, phone: str | None = None) -> str | None:
    """The customer behind an address, for provider feedback that carries no customer id."""
    if email:
        row = conn.execute("SELECT customer_id FROM customers WHERE email = ? AND customer_id IS NOT NULL LIMIT 1",
                           (email.lower(),)).fetchone()
    elif phone:
        row = conn.execute("SELECT customer_id FROM customers WHERE phone = ? AND customer_id IS NOT NULL LIMIT 1",
                           (phone,)).fetchone()
    else:
        return None
    return row[0] if row else None


def message_by_provider_id(conn: sqlite3.Connection, provider_id: str) -> dict[str, Any] | None:
    """The outbox message a provider knows by its own id (Twilio's MessageSid)."""
    row = conn.execute("SELECT id, customer, journey, step, payload FROM outbox WHERE provider_id = ?",
                       (provider_id,)).fetchone()
    if row is None:
        return None
    payload = orjson.loads(row[4])
    return {"message_id": row[0], "customer_id": row[1], "journey": row[2], "step": row[3],
            "variant": payload.get("variant"), "to": payload.get("to")}


def first_use_of_signature(conn: sqlite3.Connection, signature: str, now: float, window: float) -> bool:
    """Signed posts seen within the replay window are kept in the database: a restart forgets none."""
    with transaction(conn):
        conn.execute("DELETE FROM signatures WHERE at < ?", (now - window,))
        return conn.execute("INSERT OR IGNORE INTO signatures VALUES (?, ?)", (signature, now)).rowcount == 1
