"""Standard Webhooks signing: secrets `whsec_<base64>`, headers webhook-id / webhook-timestamp /
webhook-signature, the signature `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` computed by the
`standardwebhooks` package. During a rotation's overlap the header carries one signature per secret,
space-separated, so a receiver that knows either secret accepts the message."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh secret in the spec's form (32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id(key: str | None = None) -> str:
    """A webhook-id: derived from an idempotency key (the same event always gets the same id), else random."""
    if key:
        return "msg_" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    return "msg_" + secrets.token_hex(16)


def headers(msg_id: str, timestamp: int, body: str, secrets_: Sequence[str]) -> dict[str, str]:
    """The three signature headers for one attempt (`timestamp`: epoch seconds of the attempt)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    signatures = " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in secrets_)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}
