"""Import every module that defines tables, so SQLModel.metadata knows the whole schema."""

from portal import accounts, attestations, events, notify, registrations  # noqa: F401
