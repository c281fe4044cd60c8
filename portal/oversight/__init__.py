"""Oversight: moderators' review, enforcement (sanctions, appeals, blocklists), violation cases,
inspections, the auditor's search and integrity check, exports, the whole record, buyers'
blocklist."""
