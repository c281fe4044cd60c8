"""Import every module that defines tables, so SQLModel.metadata knows the whole schema."""

# ruff: noqa: F401
from portal import accounts
from portal.ledger import events, pii_access, tlog
from portal.lifecycle import wizard
from portal.oversight import buyers, cases, inspection_requests, inspections, review
from portal.platforms import clients, filings, notify, webhooks
from portal.records import certificates, registry, status_lists
from portal.registration import attestations, blocklist, models, sanctions, screening
