"""Signed inbound posts (ours and SendGrid's): freshness, replay memory in the database, re-encodings."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from connectors.api.auth import Secret, SignatureChecker, sign
from connectors.webhooks.sendgrid_events import P256_ORDER, SendGridVerifier, replay_key, to_events
from engine.runtimes.embedded import database
from engine.runtimes.embedded.queries import first_use_of_signature

NOW = 1_800_000_000.0
BODY = b'{"type": "signed_up", "customer_id": "c1"}'


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    database.create(tmp_path / "nudge.db")
    return database.connect(tmp_path / "nudge.db")


def accept(checker: SignatureChecker, conn: sqlite3.Connection, header: str, now: float) -> str | None:
    """What POST /v1/events does with a signed post: check it, then remember its signature."""
    reason = checker.check(header, BODY, now)
    if reason is None and not first_use_of_signature(conn, checker.signature_of(header), now, checker.memory):
        return "replay"
    return reason


def test_a_signature_stamped_in_the_future_beyond_clock_skew_is_refused(conn: sqlite3.Connection) -> None:
    checker = SignatureChecker(Secret("whsec"))
    reason = accept(checker, conn, sign("whsec", BODY, int(NOW) + 290), NOW)
    assert reason is not None and "in the future" in reason
    assert accept(checker, conn, sign("whsec", BODY, int(NOW) + 20), NOW) is None  # small skew is fine


def test_a_signature_is_remembered_for_as_long_as_it_stays_valid(conn: sqlite3.Connection) -> None:
    checker = SignatureChecker(Secret("whsec"))
    skew = checker.freshness.future
    header = sign("whsec", BODY, int(NOW + skew))  # as far ahead as is accepted
    assert accept(checker, conn, header, NOW) is None
    last_valid = NOW + skew + checker.freshness.past
    assert checker.check(header, BODY, last_valid) is None  # the stamp alone would still pass...
    assert accept(checker, conn, header, last_valid) == "replay"  # ...so the memory must refuse it
    assert accept(checker, conn, header, last_valid + 1) is not None


KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
EVENTS = b'[{"event": "open", "customer_id": "c1", "email": "a@example.com", "timestamp": 1800000000}]\r\n'


def signed(stamp: str) -> str:
    return base64.b64encode(KEY.sign(stamp.encode() + EVENTS, ec.ECDSA(hashes.SHA256()))).decode()


def test_sendgrid_signatures_re_encoded_are_the_same_signature_for_the_replay_memory(conn: sqlite3.Connection) -> None:
    verifier, stamp = SendGridVerifier(PUBLIC), str(int(NOW))
    original = signed(stamp)
    r, s = decode_dss_signature(base64.b64decode(original))
    twin = base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()  # also a valid ECDSA signature
    padded = original[:10] + "!" + original[10:]  # the base64 decoder skips characters out of its alphabet
    for variant in (original, twin, padded):
        assert verifier.check(EVENTS, variant, stamp, NOW) is None
        assert replay_key(variant) == replay_key(original)
    key = replay_key(original)
    assert key is not None and first_use_of_signature(conn, key, NOW, verifier.freshness.memory)
    assert not first_use_of_signature(conn, key, NOW + 1, verifier.freshness.memory)


def test_a_sendgrid_stamp_beyond_clock_skew_is_refused() -> None:
    stamp = str(int(NOW) + 290)
    reason = SendGridVerifier(PUBLIC).check(EVENTS, signed(stamp), stamp, NOW)
    assert reason is not None and "in the future" in reason


def test_malformed_sendgrid_items_are_counted_and_skipped_and_the_good_ones_kept() -> None:
    good = {"event": "open", "customer_id": "c1", "email": "a@example.com", "timestamp": 1800000000}
    bad = [{**good, "timestamp": "yesterday"}, {**good, "timestamp": 1e300}, {**good, "timestamp": [1]},
           "not an object", {**good, "customer_id": "x" * 100_000}]
    mapped = to_events([good, *bad, {**good, "event": "processed"}], lambda address: None)
    assert [e["customer_id"] for e in mapped.events] == ["c1"]
    assert (mapped.refused, mapped.unattributed) == (len(bad), 0)
