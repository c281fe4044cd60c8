"""Offline verification, independent of the DB: a certificate (`portal verify-certificate`) and
the log's growth between two checkpoints (`portal log verify`).

They need only the certificate or the log's URL, the issuer's public keys and, for the log, the
checkpoint seen last time (the state file).

Trust is pinned by the verifier (DESIGN §6): the keys come from what the verifier gave
(``--keys FILE_OR_URL``) or from the issuer the verifier named (``--issuer URL``, which the
certificate's ``issuer`` and the checkpoint's ``origin`` must equal), never from the document
being verified: a certificate naming a key server of its forger's verifies nothing.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from portal.ledger import tlog
from portal.ledger import witness as witness_notes
from portal.records import certificates, registry


class Invalid(Exception):
    """The certificate or the log does not check out; the message says why, in one line."""


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the user's URL)
        return json.loads(response.read(4 * 1024 * 1024))


class Unpinned(Exception):
    """Neither keys nor an issuer were given: there is nothing to trust."""


UNPINNED = ("give --keys FILE_OR_URL or --issuer URL: the keys are never taken from the "
            "certificate itself")


def issuer_keys_url(issuer: str) -> str:
    """Where an issuer publishes its keys."""
    return f"{issuer.rstrip('/')}/.well-known/portal-keys.json"


def same_issuer(named: str, stated: Any) -> bool:
    """Whether the issuer a document states is the one the verifier named (a trailing slash
    aside)."""
    return isinstance(stated, str) and stated.rstrip("/") == named.rstrip("/")


def pinned_keys(keys: str | None, issuer: str | None) -> list[dict[str, Any]]:
    """The keys the verifier trusts: ``keys`` (a JWKS file or URL), else those the issuer it
    named publishes. Unpinned when neither is given; Invalid when they cannot be had."""
    if keys:
        return _keys_for(keys)
    if issuer:
        if not issuer.startswith(("http://", "https://")):
            raise Invalid(f"--issuer {issuer!r} is not an http(s) URL")
        return _keys_for(issuer_keys_url(issuer))
    raise Unpinned(UNPINNED)


def check_issuer(certificate: dict[str, Any], issuer: str | None) -> None:
    """With ``--issuer``: the certificate names that issuer, else Invalid."""
    if issuer is not None and not same_issuer(issuer, certificate.get("issuer")):
        raise Invalid(f"the certificate names the issuer {certificate.get('issuer')!r}, "
                      f"not {issuer!r} given with --issuer")


def load_keys(source: str) -> list[dict[str, Any]]:
    if source.startswith(("http://", "https://")):
        document = fetch_json(source)
    else:
        document = json.loads(Path(source).read_text())
    return list(document["keys"])


def check_certificate(certificate: dict[str, Any], keys: list[dict[str, Any]], *,
                      now: datetime | None = None) -> None:
    """Signature, kind and validity window; raises Invalid with the reason."""
    if certificate.get("type") != certificates.CERTIFICATE_TYPE or certificate.get("version") != 1:
        raise Invalid("not a livestream registration certificate")
    if not any(k.get("kid") == certificate.get("kid") for k in keys):
        raise Invalid(f"unknown signing key {certificate.get('kid')!r}")
    if not certificates.verify_signature(certificate, keys):
        raise Invalid("the signature does not match the certificate")
    if certificate.get("status") != "approved":
        raise Invalid(f"the registration is {certificate.get('status')}, not approved")
    until = certificate.get("valid_until")
    ends = datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None
    # The rule the API and /verify apply; a certificate does not state the blocklist, which the
    # registry checks and a new certificate (revoked) announces.
    if not registry.is_valid("approved", ends, False, now or datetime.now(UTC)):
        raise Invalid(f"the certificate expired on {until}")


# Person-blocklist entries logged under a registration's number (besides the one by entry id):
# the last one says whether its document or organisation is blocklisted now.
BLOCKLIST_ENTRIES = {"blocklist.person_added": True, "blocklist.person_removed": False}


def signed(certificate: Any, keys: list[dict[str, Any]]) -> bool:
    """Whether the certificate's signature checks out with one of ``keys``."""
    return isinstance(certificate, dict) and certificates.verify_signature(certificate, keys)


def stated_sanctions(certificate: dict[str, Any]) -> list[str]:
    """The sanctions in force the certificate states, one line each."""
    if "sanctions" not in certificate:
        return ["sanctions: not stated (issued before certificates stated them)"]
    lines = []
    for sanction in certificate["sanctions"] or []:
        line = f"sanction: {sanction.get('kind')} since {sanction.get('since')}"
        if sanction.get("until"):
            line += f" until {sanction['until']}"
        if sanction.get("deadline"):
            line += f", correction due by {sanction['deadline']}"
        if "restricted_functions" in sanction:
            line += f", restricts {', '.join(sanction['restricted_functions']) or 'nothing'}"
        lines.append(line)
    return lines or ["sanctions: none in force"]


def check_log(certificate: dict[str, Any], keys: list[dict[str, Any]], log_url: str) -> int:
    """The certificate's entry is in a fresh, signed checkpoint, nothing later supersedes it (a
    status change or a newer certificate of the number) and the log does not say the
    registration's document or organisation is blocklisted: the one validity rule, read from
    the log."""
    base = log_url.rstrip("/")
    checkpoint = fetch_json(f"{base}/checkpoint")
    if not certificates.verify_signature(checkpoint, keys):
        raise Invalid("the log checkpoint's signature does not match")
    size = int(checkpoint["tree_size"])
    digest = hashlib.sha256(rfc8785.dumps(certificate)).hexdigest()
    found: int | None = None
    found_entry: dict[str, Any] = {}
    superseded = False
    blocked = False
    for start in range(0, size, tlog.MAX_ENTRIES):
        end = min(size, start + tlog.MAX_ENTRIES)
        for item in fetch_json(f"{base}/entries?start={start}&end={end}")["entries"]:
            entry = item["entry"]
            if entry.get("certificate_sha256") == digest:
                found, found_entry = item["index"], entry
            elif entry.get("number") != certificate["number"]:
                continue
            elif entry.get("type") in BLOCKLIST_ENTRIES:
                blocked = BLOCKLIST_ENTRIES[entry["type"]]
            elif found is not None:
                superseded = True
    if found is None:
        raise Invalid("the certificate is not in the log")
    if superseded:
        raise Invalid("a later log entry supersedes this certificate")
    if blocked:
        raise Invalid("the log says the registration's person or organisation is blacklisted")
    proof = fetch_json(f"{base}/proof/inclusion?index={found}&tree_size={size}")
    # The leaf is recomputed from the entry itself, not taken from the log's word for it.
    leaf = tlog.leaf_hash(tlog.entry_bytes(found_entry))
    path = [base64.b64decode(p) for p in proof["audit_path"]]
    if base64.b64decode(proof["leaf_hash"]) != leaf or not tlog.verify_inclusion(
            leaf, found, size, path, base64.b64decode(checkpoint["root_hash"])):
        raise Invalid("the inclusion proof does not match the checkpoint")
    return found


# --- the log seen from outside: `portal log verify` --------------------------------------------

CHECKPOINT_FIELDS = ("origin", "tree_size", "root_hash", "timestamp", "kid", "signature")


@dataclass(frozen=True)
class LogReport:
    """What ``verify_log`` found: the new checkpoint, and the size stored before (None the first
    time)."""

    checkpoint: dict[str, Any]
    previous_size: int | None
    witnessed: tuple[str, ...] = ()  # the names of the trusted witnesses that cosigned it


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _fetch(url: str) -> Any:
    """fetch_json, with network, HTTP and JSON failures turned into Invalid."""
    try:
        return fetch_json(url)
    # URLError, HTTPError and timeouts are OSErrors, bad JSON a ValueError; a connection cut
    # short or a malformed answer is an HTTPException.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise Invalid(f"could not fetch {url}: {_one_line(exc)}") from exc


def _checkpoint_fields(checkpoint: Any, what: str) -> tuple[str, int, bytes]:
    """Origin, tree size and raw root of a checkpoint of the contract's shape, else Invalid."""
    if not isinstance(checkpoint, dict):
        raise Invalid(f"{what} is not a JSON object")
    missing = [name for name in CHECKPOINT_FIELDS if name not in checkpoint]
    if missing:
        raise Invalid(f"{what} lacks {', '.join(missing)}")
    size = checkpoint["tree_size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 2**53 - 1:
        raise Invalid(f"{what} has a tree_size that is not a whole number")
    for name in ("origin", "root_hash", "timestamp", "kid", "signature"):
        if not isinstance(checkpoint[name], str):
            raise Invalid(f"{what} has a {name} that is not a string")
    try:
        root = tlog.unb64(checkpoint["root_hash"])
    except ValueError:
        root = b""
    if len(root) != tlog.HASH_SIZE:
        raise Invalid(f"{what} has a root_hash that is not a base64 SHA-256 hash")
    return checkpoint["origin"], size, root


def check_checkpoint(checkpoint: Any, keys: list[dict[str, Any]]) -> None:
    """The checkpoint has the contract's shape and its Ed25519 signature, over the JCS bytes
    without ``signature`` (DESIGN §6), checks out with the key its kid names; else Invalid.
    Retired keys count: a checkpoint signed before a rotation keeps verifying."""
    _checkpoint_fields(checkpoint, "the checkpoint")
    if not any(k.get("kid") == checkpoint["kid"] for k in keys):
        raise Invalid(f"unknown signing key {checkpoint['kid']!r}")
    if not certificates.verify_signature(checkpoint, keys):
        raise Invalid("the checkpoint's signature does not match")


def _refusal(old: dict[str, Any], new: dict[str, Any]) -> str:
    return (f"the checkpoint (tree_size {new['tree_size']}) does not extend the stored one "
            f"(tree_size {old['tree_size']})")


def _check_origin(old: dict[str, Any], new: dict[str, Any]) -> None:
    if new["origin"] != old["origin"]:
        raise Invalid(f"{_refusal(old, new)}: its origin is {new['origin']!r}, "
                      f"the stored one's {old['origin']!r}")


def check_extends(old: dict[str, Any], new: dict[str, Any], log_url: str) -> None:
    """The tree of ``new`` extends that of ``old`` (RFC 9162 §2.1.4); else Invalid, "does not
    extend". A larger tree is checked with the log's consistency proof, fetched from
    ``log_url``."""
    _check_origin(old, new)
    _, m, old_root = _checkpoint_fields(old, "the stored checkpoint")
    _, n, new_root = _checkpoint_fields(new, "the checkpoint")
    refused = _refusal(old, new)
    if n < m:
        raise Invalid(f"{refused}: the tree is smaller")
    if m == 0:
        # Every tree extends the empty one, whose root is SHA-256 of nothing.
        if old_root != tlog.EMPTY_ROOT:
            raise Invalid(f"{refused}: the stored empty tree has a root other than SHA-256()")
        return
    if n == m:
        if new_root != old_root:
            raise Invalid(f"{refused}: same size, different root")
        return
    url = f"{log_url.rstrip('/')}/proof/consistency?first={m}&second={n}"
    answer = _fetch(url)
    try:
        if (answer["first"], answer["second"]) != (m, n):
            raise ValueError("it is for other sizes")
        proof = [tlog.unb64(p) for p in answer["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid(f"{refused}: the consistency proof is malformed") from exc
    if not tlog.verify_consistency(m, n, old_root, new_root, proof):
        raise Invalid(f"{refused}: the consistency proof does not verify")


def read_state(path: Path) -> dict[str, Any] | None:
    """The checkpoint stored by the last good run, or None when there is no state file yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Invalid(f"could not read the state file {path}: {_one_line(exc)}") from exc
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"the state file {path} is not JSON: {_one_line(exc)}") from exc
    _checkpoint_fields(state, f"the state file {path}")
    return dict(state)


def write_state(path: Path, checkpoint: dict[str, Any]) -> None:
    """Replace the state file atomically: a temporary file in the same directory, flushed to
    disk, then renamed over it, so a crash leaves the old state or the new, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(checkpoint, indent=2, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _keys_for(source: str) -> list[dict[str, Any]]:
    remote = source.startswith(("http://", "https://"))
    verb = "fetch" if remote else "read"
    try:
        keys = load_keys(source)
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException) as exc:
        raise Invalid(f"could not {verb} the keys from {source}: {_one_line(exc)}") from exc
    if not all(isinstance(key, dict) for key in keys):
        raise Invalid(f"could not {verb} the keys from {source}: not a list of JWKs")
    return keys


def trusted_witnesses(vkeys: Sequence[str], min_witnesses: int | None) -> tuple[
        list[witness_notes.NoteKey], int]:
    """The witness keys given with --witness and how many must have cosigned; Unpinned when
    they do not make sense."""
    keys = []
    for vkey in vkeys:
        try:
            key = witness_notes.parse_vkey(vkey)
        except ValueError as exc:
            raise Unpinned(f"--witness {vkey!r} is not a verifier key: {exc}") from exc
        if key.key_type != witness_notes.COSIGNATURE_KEY_TYPE:
            raise Unpinned(f"--witness {key.name} is not a witness's key (cosigner type 0x04)")
        keys.append(key)
    if min_witnesses is None:
        return keys, 1 if keys else 0
    if not 0 < min_witnesses <= len(keys):
        raise Unpinned(f"--min-witnesses must be between 1 and the {len(keys)} witnesses given "
                       "with --witness")
    return keys, min_witnesses


def fetch_note(origin: str, tree_size: int) -> str:
    """The signed note of the checkpoint of ``tree_size`` with its cosignatures, from the
    issuer the checkpoint names (``<origin>/log/note/<size>``)."""
    url = f"{origin.rstrip('/')}/log/note/{tree_size}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the pinned issuer)
            return str(response.read(1_000_000).decode("utf-8"))
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise Invalid(f"could not fetch {url}: {_one_line(exc)}") from exc


def check_cosigned(checkpoint: dict[str, Any], note_text: str,
                   witnesses: Sequence[witness_notes.NoteKey], needed: int) -> tuple[str, ...]:
    """The names of the ``witnesses`` whose valid cosignature the signed note carries, on the
    same tree head as the checkpoint; Invalid when fewer than ``needed``."""
    try:
        note = witness_notes.parse_note(note_text)
        _, size, root = witness_notes.checkpoint_fields(note.text)
    except ValueError as exc:
        raise Invalid(f"the checkpoint's note is not a signed checkpoint: {exc}") from exc
    if size != checkpoint["tree_size"] or tlog.b64(root) != checkpoint["root_hash"]:
        raise Invalid("the checkpoint's note names another tree head than the checkpoint")
    cosigned = tuple(w.name for w in witnesses if witness_notes.cosigned_at(note, w) is not None)
    if len(cosigned) < needed:
        raise Invalid(f"the checkpoint is cosigned by {len(cosigned)} of the {len(witnesses)} "
                      f"witnesses given; {needed} needed")
    return cosigned


def verify_log(log_url: str, state_path: Path, keys_source: str | None = None, *,
               issuer: str | None = None, witnesses: Sequence[str] = (),
               min_witnesses: int | None = None) -> LogReport:
    """`portal log verify`: fetch the log's checkpoint, check its signature with the keys the
    verifier pinned (``keys_source``, else those of ``issuer``, which the checkpoint's origin
    must name; Unpinned with neither), that ``min_witnesses`` of the ``witnesses`` (verifier
    keys) cosigned it, and that it extends the checkpoint in ``state_path``, then store it
    there. Raises Invalid, leaving the state file as it was, when any of that fails."""
    if not keys_source and not issuer:
        raise Unpinned(UNPINNED.replace("certificate", "checkpoint"))
    witness_keys, needed = trusted_witnesses(witnesses, min_witnesses)
    checkpoint = _fetch(f"{log_url.rstrip('/')}/checkpoint")
    origin, _, _ = _checkpoint_fields(checkpoint, "the checkpoint")
    if issuer is not None and not same_issuer(issuer, origin):
        raise Invalid(f"the checkpoint's origin is {origin!r}, not {issuer!r} given with "
                      "--issuer")
    previous = read_state(state_path)
    if previous is not None:
        _check_origin(previous, checkpoint)
    check_checkpoint(checkpoint, pinned_keys(keys_source, issuer))
    witnessed: tuple[str, ...] = ()
    if witness_keys:
        note = fetch_note(origin, int(checkpoint["tree_size"]))
        witnessed = check_cosigned(checkpoint, note, witness_keys, needed)
    if previous is not None:
        check_extends(previous, checkpoint, log_url)
    try:
        write_state(state_path, checkpoint)
    except OSError as exc:
        raise Invalid(f"the checkpoint checks out but could not be stored in {state_path}: "
                      f"{_one_line(exc)}") from exc
    return LogReport(checkpoint, None if previous is None else int(previous["tree_size"]),
                     witnessed)
