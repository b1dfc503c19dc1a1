"""API keys and signed event posts (Stripe's scheme): a leaked key alone cannot inject events."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from fastapi import HTTPException
from starlette.requests import Request

from connectors.freshness import FRESHNESS, Freshness
from connectors.signing import sign


class Secret(str):
    """A string that never prints itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('**********')"


def api_keys(environ: Mapping[str, str], db_path: Path) -> tuple[list[Secret], str | None]:
    """Keys from NUDGE_API_KEYS, else one generated and kept beside the database.

    Returns the keys and, when one was generated or read from that file, the note to print.
    """
    configured = [k.strip() for k in environ.get("NUDGE_API_KEYS", "").split(",") if k.strip()]
    if configured:
        return [Secret(k) for k in configured], None
    path = key_file(db_path)
    if path.exists():
        key = path.read_text().strip()
    else:
        key = "nk_" + secrets.token_urlsafe(24)
        path.write_text(key + "\n")
        path.chmod(0o600)
    return [Secret(key)], f"API key (from {path}): {key}"


def key_file(db_path: Path) -> Path:
    """Where `nudge run` keeps the key it generated (and `nudge apply` finds it)."""
    return db_path.with_name(db_path.name + ".api-key")


def write_keys(environ: Mapping[str, str], keys: list[Secret]) -> list[Secret]:
    """Keys that may post events (/v1/events, the Segment routes) and nothing else: NUDGE_WRITE_KEYS
    and every API key. A write key sits in a website's page, so it opens no read or erase."""
    extra = [Secret(k.strip()) for k in environ.get("NUDGE_WRITE_KEYS", "").split(",") if k.strip()]
    return [*keys, *extra]


def basic_user(authorization: str) -> str | None:
    """The user name of `Authorization: Basic base64(user:password)`: where Segment's SDKs put the write key."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def bearer(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, else of `X-API-Key`."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")


def key_ok(presented: str | None, keys: list[Secret]) -> bool:
    return presented is not None and any(hmac.compare_digest(presented.encode(), k.encode()) for k in keys)


@dataclass
class SignatureChecker:
    secret: Secret
    freshness: Freshness = FRESHNESS

    def check(self, header: str | None, body: bytes, now: float) -> str | None:
        """None when the signature is good and fresh; else the reason for refusing it."""
        if not header:
            return "missing Nudge-Signature header"
        parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
        try:
            timestamp = int(parts["t"])
        except (KeyError, ValueError):
            return "Nudge-Signature needs t=<unix time>"
        if (stale := self.freshness.refuse(timestamp, now)) is not None:
            return stale
        expected = sign(self.secret, body, timestamp).split("v1=", 1)[1]
        given = parts.get("v1", "")
        if not hmac.compare_digest(expected.encode(), given.encode()):  # bytes: a non-ASCII str would raise
            return "signature does not match the body"
        return None  # the caller records the signature, so a replay is refused even after a restart

    @property
    def memory(self) -> float:
        """Seconds the caller must remember a used signature (first_use_of_signature's window)."""
        return self.freshness.memory

    @staticmethod
    def signature_of(header: str) -> str:
        return dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p).get("v1", "")


def require_key(keys: list[Secret]) -> Callable[[Request], None]:
    """A router dependency: one of the API keys, as a Bearer token or X-Api-Key (401 without, 403 wrong)."""

    def check(request: Request) -> None:
        presented = bearer(request)
        if not presented:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'")
        if not key_ok(presented, keys):
            raise HTTPException(403, "invalid API key")

    return check
