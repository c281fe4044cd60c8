"""Password hashing: strong enough (OWASP's argon2id minimum) and still quick enough to log in."""

from __future__ import annotations

import statistics

from bench.common import Result, timed
from bench.context import Context
from portal.accounts import hash_password, pwd_context

PASSWORD = "violet kettle harbour 42 moss"


def run(ctx: Context) -> list[Result]:
    hashed = hash_password(PASSWORD)
    hash_ms = timed(lambda: hash_password(PASSWORD), repeat=10)
    verify_ms = timed(lambda: pwd_context.verify(PASSWORD, hashed), repeat=10)
    return [
        Result("argon2id hash (m=19 MiB, t=2), median", statistics.median(hash_ms), "ms", 250),
        Result("argon2id verify, median", statistics.median(verify_ms), "ms", 250),
    ]
