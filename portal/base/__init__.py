"""The base layer: settings, databases and sessions, translations, errors, form rules, identity
numbers, jurisdictions and regions, crypto primitives, upload checks, the outbound-request guard.

Imports nothing else of the portal (docs/architecture.md)."""
