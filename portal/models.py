"""Import every module that defines tables, so SQLModel.metadata knows the whole schema."""

from portal import (  # noqa: F401
    accounts,
    attestations,
    blocklist,
    buyers,
    cases,
    events,
    inspections,
    notify,
    pii_access,
    platforms,
    records,
    registrations,
    registry,
    review,
    sanctions,
    screening,
    tlog,
    webhooks,
)
