"""schemathesis hooks for .ci/schemathesis/run (loaded through SCHEMATHESIS_HOOKS).

1. Credentials: merchant calls are signed with the demo shop's secret (API.md §5: HMAC-SHA256 of
   "<t>.<raw body>", made on the final bytes just before they are sent); wallet calls and the
   user token of a hold get a fresh wallet token (HS256, CASHBACK_WALLET_SECRET). A case that
   schemathesis sends without the admin header, or with another value, is testing missing or
   wrong credentials and is sent as it is.
2. A check: a schema-valid request may be refused with 400 only for a rule API.md §3 gives 400
   and a JSON Schema cannot state (each listed below with its message).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import time
from urllib.parse import urlsplit

import schemathesis
from requests.adapters import HTTPAdapter

MERCHANT = os.environ["ST_MERCHANT"]
SECRET = os.environ["ST_SECRET"].encode()
WALLET_SECRET = os.environ["ST_WALLET_SECRET"].encode()
ADMIN = "Bearer " + os.environ["ST_ADMIN_TOKEN"]
WALLET_USER = "bob"

# Routes a shop calls, signed with its secret.
SIGNED = ("/v1/orders", "/v1/checkout/", "/v1/users/", "/v1/redemptions")


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def wallet_token(user: str) -> str:
    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": user, "iat": now, "exp": now + 600}).encode())
    mac = hmac.new(WALLET_SECRET, head + b"." + claims, hashlib.sha256).digest()
    return (head + b"." + claims + b"." + _b64(mac)).decode()


def _body_user(body: bytes) -> str:
    try:
        user = json.loads(body).get("user_id")
    except (ValueError, AttributeError):
        return WALLET_USER
    return user if isinstance(user, str) and user else WALLET_USER


_send = HTTPAdapter.send


def _credentialed_send(self, request, *args, **kwargs):
    global SECRET
    if request.headers.get("Authorization") != ADMIN:
        return _send(self, request, *args, **kwargs)
    path = urlsplit(request.url).path
    if request.method == "PUT" and path == f"/v1/admin/merchants/{MERCHANT}":
        # A generated call may replace the demo shop's secret: sign with the new one after.
        response = _send(self, request, *args, **kwargs)
        try:
            secret = json.loads(request.body or b"{}").get("secret")
        except (ValueError, AttributeError):
            secret = None
        if response.status_code in (200, 201) and isinstance(secret, str):
            SECRET = secret.encode()
        return response
    if path.startswith(SIGNED):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        t = str(int(time.time()))
        mac = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        del request.headers["Authorization"]
        request.headers["X-Cashback-Merchant"] = MERCHANT
        request.headers["X-Cashback-Signature"] = f"t={t},v1={mac}"
        # A generated user token becomes a valid one; a case without one tests its absence.
        if path == "/v1/redemptions" and "X-Cashback-User-Token" in request.headers:
            request.headers["X-Cashback-User-Token"] = wallet_token(_body_user(body))
    elif path.startswith("/v1/wallet"):
        request.headers["Authorization"] = "Bearer " + wallet_token(WALLET_USER)
    return _send(self, request, *args, **kwargs)


HTTPAdapter.send = _credentialed_send

# API.md §3's 400s for rules between fields, or between a field and the ledger's state.
DOCUMENTED_400 = [
    r"has more than \d+ decimals for [A-Z]{3}",  # decimals beyond the currency's minor unit
    r"exceeds the largest amount",  # 10^15 - 1 minor units: how many digits depends on the currency
    r"cursor is not one this service gave out",  # paging cursors are opaque
    r"lines sum to .*, not the order amount",
    r"paid_at is more than 300 s ahead of the server clock",
    r"refunded_at is before the order's paid_at",
    r"is reserved for POST /cancel",
    r"destination (is not|must be) one of",  # the user's registered payout destinations
    r"the fee must be below the minimum",
    r"postings\[\d+\]: \S+ (has no|needs an) owner",  # depends on the posting's account
    r"secret is required when a merchant is created",
    r"hledger and beancount exports take dates",  # depends on `format`
    r"category name must be",  # a program's category names are map keys
    r"the file is not CSV|^line \d+: |the file has no \w+ column",  # the reconcile body
]


@schemathesis.check
def only_documented_400s(ctx, response, case):
    """A schema-valid request refused with 400 names one of the documented rules."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    detail = ""
    try:
        detail = response.json().get("detail", "")
    except Exception:
        pass
    if not any(re.search(p, detail) for p in DOCUMENTED_400):
        raise AssertionError(f"a schema-valid request was refused with 400 for a rule the document does not state: {detail!r}")
    return None
