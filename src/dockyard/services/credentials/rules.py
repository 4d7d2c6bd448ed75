"""The shapes of credential ids and the limits of credentials (shared by verification and
issuing)."""

from __future__ import annotations

import re
import secrets
import string
from datetime import timedelta

#: The user name of temporary registry credentials (``docker login -u cr_temp_user``).
TEMP_USERNAME = "cr_temp_user"
#: Lifetime of temporary registry credentials (PRODUCT.md §4), unless STS ends sooner.
TEMP_CREDENTIAL_SECONDS = 3600
#: Access keys a user may hold at once (design).
MAX_ACCESS_KEYS = 5
ACCESS_KEY_PREFIX = "AK"
STS_PREFIX = "STS."
STS_MIN_SECONDS, STS_MAX_SECONDS, STS_DEFAULT_SECONDS = 900, 43200, 3600
#: ``last_used_at`` of an access key is written at most this often.
LAST_USED_GRANULARITY = timedelta(seconds=60)

ACCESS_KEY_ID_RE = re.compile(r"^AK[A-Za-z0-9]{22}$")
_ALNUM = string.ascii_letters + string.digits


def random_alnum(length: int) -> str:
    """Letters and digits from the system's secure source (ids and secrets)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))
