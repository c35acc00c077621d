"""The signature of a delivery: HMAC-SHA256 of `timestamp.body` with the endpoint's secret, sent as `v1=<hex>`;
while a rotated secret still signs, one signature per secret, separated by commas.

The client package (clients/python, promptopt_client.webhooks) verifies it; tests check the two agree."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-PromptOpt-Signature"
TIMESTAMP_HEADER = "X-PromptOpt-Timestamp"
DELIVERY_HEADER = "X-PromptOpt-Delivery"
EVENT_HEADER = "X-PromptOpt-Event"


def signed_headers(*, secrets, body, delivery_id, event, now=None):
    timestamp = str(int(time.time() if now is None else now))
    signatures = ",".join(
        "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        for secret in secrets
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": "PromptOpt-Webhooks/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signatures,
        DELIVERY_HEADER: str(delivery_id),
        EVENT_HEADER: event,
    }
