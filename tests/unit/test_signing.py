"""Standard Webhooks signatures: ours verify with the reference library, and vice versa."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ctripctl.domain.signing import new_secret, secret_key, sign, verify
from ctripctl.errors import InputError
from ctripctl.webhooks.delivery import body_bytes, signed_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = secret_key(SECRET)
TS = 1_764_417_600


@given(st.binary(max_size=2000).map(lambda b: b.decode("latin-1").encode()), st.text(min_size=1, max_size=40))
def test_our_signature_equals_the_reference_one(body: bytes, suffix: str) -> None:
    msg_id = "evt_" + "".join(ch for ch in suffix if ch.isalnum() and ch.isascii())
    reference = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(TS, tz=UTC), body.decode())
    assert sign(KEY, msg_id, TS, body) == reference


def test_reference_library_verifies_our_headers() -> None:
    payload = {
        "type": "payment.created",
        "timestamp": "2026-11-29T12:00:00Z",
        "data": {"amount": "1.5", "x": "é"},
    }
    body = body_bytes(payload)
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(KEY, "evt_abc", now, body)
    assert headers["content-type"] == "application/json"
    assert Webhook(SECRET).verify(body, headers) == payload


def test_reference_library_rejects_a_tampered_body_or_id() -> None:
    now = int(datetime.now(UTC).timestamp())
    body = b'{"a":1}'
    headers = signed_headers(KEY, "evt_abc", now, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, {**headers, "webhook-id": "evt_other"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_verify_checks_signature_and_freshness() -> None:
    body = b"{}"
    header = sign(KEY, "evt_1", TS, body)
    assert verify(KEY, "evt_1", TS, body, header, now=TS + 10)
    assert verify(KEY, "evt_1", TS, body, "v1,bm9wZQ== " + header, now=TS)  # any listed signature
    assert not verify(KEY, "evt_1", TS, body, header, now=TS + 301)  # stale
    assert not verify(KEY, "evt_1", TS, b"{ }", header, now=TS)
    assert not verify(KEY, "evt_1", TS, body, header.replace("v1,", "v2,"), now=TS)


def test_secret_key_decodes_and_rejects_bad_secrets() -> None:
    assert secret_key(SECRET) == base64.b64decode(SECRET.removeprefix("whsec_"))
    assert len(secret_key(new_secret())) == 32
    with pytest.raises(InputError) as bad:
        secret_key("whsec_not base64!")
    assert "not base64!" not in str(bad.value)  # never echoes the secret
    with pytest.raises(InputError):
        secret_key("whsec_" + base64.b64encode(b"short").decode())
