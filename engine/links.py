"""Signed links: unsubscribe, consent confirmation and click tracking.

Each token is an HMAC-SHA256 over its purpose and fields, so nobody can act for someone
else, or redirect a tracked link elsewhere, by editing a URL. Tokens never expire, by design:
an unsubscribe link in a years-old email must still work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SEP = "\x1f"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedLinks:
    def __init__(self, secret: bytes, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + SEP.encode() + payload, hashlib.sha256).digest()[:16]

    def sign(self, purpose: str, *fields: str) -> str:
        payload = SEP.join(fields).encode()
        return f"{_b64(payload)}.{_b64(self._mac(purpose, payload))}"

    def open(self, purpose: str, token: str, count: int) -> list[str] | None:
        """The fields of a genuine token for that purpose, else None."""
        try:
            payload_text, mac_text = token.split(".", 1)
            payload = _unb64(payload_text)
            if not hmac.compare_digest(self._mac(purpose, payload), _unb64(mac_text)):
                return None
            fields = payload.decode().split(SEP)
        except (ValueError, UnicodeDecodeError):
            return None
        return fields if len(fields) == count else None

    def token(self, customer_key: str, channel: str) -> str:
        return self.sign("unsubscribe", customer_key, channel)

    def verify(self, token: str) -> tuple[str, str] | None:
        """The (customer, channel) of a genuine unsubscribe token, else None."""
        fields = self.open("unsubscribe", token, 2)
        return (fields[0], fields[1]) if fields else None

    def unsubscribe_url(self, customer_key: str, channel: str) -> str:
        return f"{self.base_url}/u/{self.token(customer_key, channel)}"

    def confirm_url(self, customer_key: str, channel: str, address: str) -> str:
        """Double opt-in: following it records consent for `address` (the link expires when the address changes)."""
        return f"{self.base_url}/confirm/{self.sign('confirm', customer_key, channel, address)}"

    def click_url(self, customer_key: str, channel: str, message_id: str, journey: str, step: str, url: str) -> str:
        return f"{self.base_url}/c/{self.sign('click', customer_key, channel, message_id, journey, step, url)}"
