"""schemathesis hooks: sign merchant calls and authenticate wallet calls, so the generated cases
reach the service's logic instead of stopping at 401.

Loaded through SCHEMATHESIS_HOOKS by .ci/schemathesis/run. The signature is made on the final
bytes, just before they are sent (API.md §5: HMAC-SHA256(secret, "<t>.<raw body>")).
"""

import hashlib
import hmac
import os
import time
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

MERCHANT = os.environ["ST_MERCHANT"]
SECRET = os.environ["ST_SECRET"].encode()
WALLET_TOKEN = os.environ["ST_WALLET_TOKEN"]
ADMIN = "Bearer " + os.environ["ST_ADMIN_TOKEN"]

# Routes a shop calls, signed with its secret.
SIGNED = ("/v1/orders", "/v1/checkout/", "/v1/users/", "/v1/redemptions")

_send = HTTPAdapter.send


def _signed_send(self, request, *args, **kwargs):
    path = urlsplit(request.url).path
    # A case without the admin header, or with another value, is schemathesis testing a call
    # without credentials or with wrong ones: it is sent as it is.
    if request.headers.get("Authorization") != ADMIN:
        return _send(self, request, *args, **kwargs)
    if path.startswith(SIGNED):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        t = str(int(time.time()))
        mac = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        request.headers["X-Cashback-Merchant"] = MERCHANT
        request.headers["X-Cashback-Signature"] = f"t={t},v1={mac}"
        request.headers.pop("Authorization", None)
        if path == "/v1/redemptions":
            request.headers["X-Cashback-User-Token"] = WALLET_TOKEN
    elif path.startswith("/v1/wallet"):
        request.headers["Authorization"] = f"Bearer {WALLET_TOKEN}"
    return _send(self, request, *args, **kwargs)


HTTPAdapter.send = _signed_send
