"""Signed per-customer links: nobody can unsubscribe someone else by editing a URL."""

from __future__ import annotations

import base64
import hashlib
import hmac


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedLinks:
    """HMAC-SHA256 tokens carrying (customer, channel); they never expire, by design."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def token(self, customer_key: str, channel: str) -> str:
        payload = f"{customer_key}\x1f{channel}".encode()
        mac = hmac.new(self._secret, b"unsubscribe\x1f" + payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(mac)}"

    def verify(self, token: str) -> tuple[str, str] | None:
        """The (customer, channel) a genuine token names, else None."""
        try:
            payload_text, mac_text = token.split(".", 1)
            payload = _unb64(payload_text)
            expected = hmac.new(self._secret, b"unsubscribe\x1f" + payload, hashlib.sha256).digest()[:16]
            if not hmac.compare_digest(expected, _unb64(mac_text)):
                return None
            customer, channel = payload.decode().split("\x1f", 1)
        except (ValueError, UnicodeDecodeError):
            return None
        return customer, channel

    def unsubscribe_url(self, customer_key: str, channel: str) -> str:
        return f"{self.base_url}/u/{self.token(customer_key, channel)}"
