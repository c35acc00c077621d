"""Verifying a PromptOpt webhook delivery: HMAC-SHA256 of `timestamp.body` with the endpoint's secret."""

import hashlib
import hmac
import json
import time

SIGNATURE_HEADER = "X-PromptOpt-Signature"
TIMESTAMP_HEADER = "X-PromptOpt-Timestamp"
DELIVERY_HEADER = "X-PromptOpt-Delivery"
EVENT_HEADER = "X-PromptOpt-Event"


class InvalidSignature(Exception):
    """The delivery was not signed with this secret, was altered, or is too old to trust."""


def signature(secret, timestamp, body):
    """`v1=` and the hex HMAC-SHA256 of `timestamp.body`: what the server sends and what a receiver recomputes."""
    secret = secret.encode() if isinstance(secret, str) else secret
    body = body.encode() if isinstance(body, str) else body
    return "v1=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def _header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify_webhook(secret, headers, body, *, tolerance=300, now=None):
    """The delivery's event as a dict, if `headers` carry a valid signature of `body` made within `tolerance`
    seconds; raises InvalidSignature otherwise. `headers`: any mapping (names are matched case-insensitively);
    `body`: the raw bytes received, before any JSON parsing."""
    timestamp, sent = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
    if not timestamp or not sent:
        raise InvalidSignature(f"The {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header is missing.")
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not a number of seconds: {timestamp!r}.") from None
    if abs(age) > tolerance:
        raise InvalidSignature(f"The delivery was signed {int(age)} s ago, more than {tolerance} s: a replay?")
    expected = signature(secret, timestamp, body)
    # Several signatures (while a secret is rotated) are sent separated by commas: one valid one is enough.
    if not any(hmac.compare_digest(expected, candidate.strip()) for candidate in sent.split(",")):
        raise InvalidSignature("The signature does not match: another secret, or the body was altered.")
    return json.loads(body)
