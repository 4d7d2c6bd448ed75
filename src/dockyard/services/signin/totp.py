"""Time-based one-time codes (RFC 6238) of virtual MFA devices."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

TOTP_DIGITS = 6
TOTP_PERIOD = 30
#: Steps either side of the current one that are accepted (clock drift).
TOTP_WINDOW = 1
TOTP_ISSUER = "Dockyard"


def totp_step(moment: datetime) -> int:
    return int(moment.timestamp()) // TOTP_PERIOD


def matching_step(secret: str, code: str, moment: datetime) -> int | None:
    """The time step (within ±``TOTP_WINDOW`` of ``moment``) whose code is ``code``."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    now = totp_step(moment)
    found = None
    for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
        # Compare every candidate (no early exit): the time taken does not depend on which.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def otpauth_uri(secret: str, username: str) -> str:
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    return totp.provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


# ---- results --------------------------------------------------------------------------------
