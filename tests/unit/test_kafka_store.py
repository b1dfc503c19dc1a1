"""The Kafka worker's view of one customer record: buffered writes, rollback, and whose alias is whose.

Plain dicts stand in for the faust tables here (these rules are about reads and buffering);
tests/kafka runs the same code on the real tables and broker.
"""

from __future__ import annotations

import pytest

from engine.runtimes.kafka.store import SEEN_KEPT, FaustStore, Record, Tables, Writes
from engine.state import CustomerState


def tables() -> Tables:
    return Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]


def test_reads_see_the_batch_writes_and_a_rollback_undoes_only_the_current_input() -> None:
    t = tables()
    t.aliases[b"a0"] = b"c0"
    writes = Writes()
    writes.begin("first input")
    writes.set(t.aliases, b"a1", b"c1")
    writes.begin("second input")
    writes.set(t.aliases, b"a1", b"c2")
    writes.delete(t.aliases, b"a0")
    writes.set(t.seen, b"e1", b"0:1")
    assert writes.get(t.aliases, b"a1") == b"c2" and writes.get(t.aliases, b"a0") is None
    writes.rollback()
    assert writes.get(t.aliases, b"a1") == b"c1"  # the first input's write stands
    assert writes.get(t.aliases, b"a0") == b"c0"  # the delete is undone
    assert writes.get(t.seen, b"e1") is None
    assert writes.written(t.aliases) == [(b"a1", b"c1")]
    assert t.aliases == {b"a0": b"c0"}  # nothing reached the table


def test_an_anonymous_record_answers_for_itself_until_it_is_handed_over() -> None:
    t = tables()
    t.aliases[b"a1"] = b"c1"  # the link is known, the hand-over has not arrived yet
    anon = FaustStore(t).open("anon:a1", 0, 5, Writes())
    assert anon.alias("a1") is None  # its events stay with the profile that is still here
    assert anon.linked("a1") == "c1"  # what the global table says
    customer = FaustStore(t).open("c1", 1, 7, Writes())
    assert customer.alias("a1") == "c1"
    assert customer.alias("a2") is None


def test_an_input_that_names_its_anonymous_id_is_taken_as_the_customers_whatever_the_table_says() -> None:
    t = tables()  # the aliases table has not caught up with the link
    store = FaustStore(t).open("c1", 1, 7, Writes())
    assert store.alias("a1") is None
    store.owns = "a1"  # a forwarded event, or a timer that came with the hand-over
    assert store.alias("a1") == "c1"
    store.put_customer(CustomerState.for_key("c1"))
    with pytest.raises(RuntimeError, match="changed 'anon:a1'"):
        store.put_customer(CustomerState.for_key("anon:a1"))


def test_the_aliases_of_a_customer_include_links_made_earlier_in_the_same_batch() -> None:
    t = tables()
    t.aliases.update({b"a0": b"c0", b"a1": b"c0", b"a2": b"c2"})
    writes = Writes()
    writes.begin("link")
    writes.set(t.aliases, b"a3", b"c0")
    writes.delete(t.aliases, b"a1")
    assert FaustStore(t).open("c0", 0, 9, writes).aliases_of("c0") == ["a0", "a3"]


def test_a_record_keeps_its_latest_ids_and_the_older_ones_are_still_found_in_the_seen_table() -> None:
    t = tables()
    writes = Writes()
    writes.begin("inputs")
    for offset in range(SEEN_KEPT + 2):
        store = FaustStore(t).open("c1", 2, offset, writes)
        assert not store.seen(f"e{offset}")
        store.remember(f"e{offset}")
        store.save(offset)
    later = FaustStore(t).open("c1", 2, 99, writes)
    assert later.record.seen == [f"e{n}" for n in range(2, SEEN_KEPT + 2)]
    assert [key for key, _ in writes.written(t.seen)] == [b"e0", b"e1"]  # moved out, one write each
    assert all(later.seen(f"e{n}") for n in range(SEEN_KEPT + 2)) and not later.seen("e-new")


def test_an_id_in_the_seen_table_is_a_duplicate_unless_the_input_at_hand_put_it_there() -> None:
    t = tables()  # as workers before ids were kept in records wrote them: each marked with its input
    t.seen.update({b"e1": b"2:40", b"e2": b"2:41"})
    store = FaustStore(t).open("c1", 2, 41, Writes())
    assert store.seen("e1")
    assert not store.seen("e2")  # this input, processed again after a crash


def test_a_record_keeps_its_state_timers_offset_version_and_forwarding_address() -> None:
    state = CustomerState.for_key("c1")
    state.traits = {"email": "c1@example.com"}
    timers = {"t1": {"due": 10.0, "key": "c1", "kind": "step", "journey": "j", "token": "x"}}
    data = Record(state, timers, 12, "v2", seen=["e1"]).encode()
    back = Record.decode(data)
    assert (back.state.traits if back.state else None, back.timers, back.offset, back.version, back.moved_to,
            back.seen) == ({"email": "c1@example.com"}, timers, 12, "v2", None, ["e1"])
    husk = Record(moved_to="c9", offset=3, seen=["e2"]).encode()
    assert Record.header(husk) == {"offset": 3, "timers": {}, "version": "", "active": 0, "moved_to": "c9",
                                   "seen": ["e2"]}
    assert Record.decode(husk).state is None and Record.decode(husk).moved_to == "c9"
    assert Record.header(data)["active"] == 0
    before = b'{"offset":3,"timers":{},"version":"v1","active":0,"moved_to":null}\n'  # written before ids were kept
    assert Record.decode(before).seen == [] and Record.decode(before).offset == 3


def test_a_faust_table_is_read_from_its_store_as_its_get_would_but_without_a_hook_per_read() -> None:
    faust = pytest.importorskip("faust")
    from faust.sensors import Sensor

    class Gets(Sensor):
        counted = 0

        def on_table_get(self, table: object, key: object) -> None:
            Gets.counted += 1

    app = faust.App("reads", broker="kafka://127.0.0.1:1", store="memory://")
    app.sensors.add(Gets())
    table = app.Table("customers", key_type=bytes, value_type=bytes, default=None)
    table.data[b"c1"] = b"record"
    assert table.get(b"c1") == b"record" and table.get(b"c2") is None and Gets.counted == 2  # faust's own get
    writes = Writes()
    assert writes.get(table, b"c1") == b"record" and writes.get(table, b"c2") is None
    assert Gets.counted == 2  # the store read straight
