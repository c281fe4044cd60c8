"""Import every module that defines tables, so SQLModel.metadata knows the whole schema."""

from portal import (  # noqa: F401
    accounts,
    attestations,
    blocklist,
    cases,
    events,
    notify,
    privacy,
    records,
    registrations,
    review,
    sanctions,
    screening,
    tlog,
)
