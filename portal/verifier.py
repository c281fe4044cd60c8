"""Offline verification of a certificate (`portal verify-certificate`), independent of the DB.

It needs only the certificate, the issuer's public keys and, with ``--log``, the public log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from portal import records, tlog


class Invalid(Exception):
    """The certificate does not check out; the message says why, in one line."""


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the user's URL)
        return json.loads(response.read(4 * 1024 * 1024))


def load_keys(source: str) -> list[dict[str, Any]]:
    if source.startswith(("http://", "https://")):
        document = fetch_json(source)
    else:
        document = json.loads(Path(source).read_text())
    return list(document["keys"])


def check_certificate(certificate: dict[str, Any], keys: list[dict[str, Any]], *,
                      now: datetime | None = None) -> None:
    """Signature, kind and validity window; raises Invalid with the reason."""
    if certificate.get("type") != records.CERTIFICATE_TYPE or certificate.get("version") != 1:
        raise Invalid("not a livestream registration certificate")
    if not any(k.get("kid") == certificate.get("kid") for k in keys):
        raise Invalid(f"unknown signing key {certificate.get('kid')!r}")
    if not records.verify_signature(certificate, keys):
        raise Invalid("the signature does not match the certificate")
    if certificate.get("status") != "approved":
        raise Invalid(f"the registration is {certificate.get('status')}, not approved")
    until = certificate.get("valid_until")
    now = now or datetime.now(UTC)
    if not until or datetime.fromisoformat(until.replace("Z", "+00:00")) <= now:
        raise Invalid(f"the certificate expired on {until}")


def check_log(certificate: dict[str, Any], keys: list[dict[str, Any]], log_url: str) -> int:
    """The certificate's entry is in a fresh, signed checkpoint and nothing later supersedes it."""
    base = log_url.rstrip("/")
    checkpoint = fetch_json(f"{base}/checkpoint")
    if not records.verify_signature(checkpoint, keys):
        raise Invalid("the log checkpoint's signature does not match")
    size = int(checkpoint["tree_size"])
    digest = hashlib.sha256(rfc8785.dumps(certificate)).hexdigest()
    found: int | None = None
    found_entry: dict[str, Any] = {}
    superseded = False
    for start in range(0, size, tlog.MAX_ENTRIES):
        end = min(size, start + tlog.MAX_ENTRIES)
        for item in fetch_json(f"{base}/entries?start={start}&end={end}")["entries"]:
            entry = item["entry"]
            if entry.get("certificate_sha256") == digest:
                found, found_entry = item["index"], entry
            elif found is not None and entry.get("number") == certificate["number"]:
                superseded = True
    if found is None:
        raise Invalid("the certificate is not in the log")
    if superseded:
        raise Invalid("a later log entry supersedes this certificate")
    proof = fetch_json(f"{base}/proof/inclusion?index={found}&tree_size={size}")
    # The leaf is recomputed from the entry itself, not taken from the log's word for it.
    leaf = tlog.leaf_hash(tlog.entry_bytes(found_entry))
    path = [base64.b64decode(p) for p in proof["audit_path"]]
    if base64.b64decode(proof["leaf_hash"]) != leaf or not tlog.verify_inclusion(
            leaf, found, size, path, base64.b64decode(checkpoint["root_hash"])):
        raise Invalid("the inclusion proof does not match the checkpoint")
    return found
