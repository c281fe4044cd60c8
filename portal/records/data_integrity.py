"""W3C Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite, and the ``did:web`` issuer.

A proof is the Ed25519 signature over SHA-256 of the canonical proof options followed by SHA-256
of the canonical document (vc-di-eddsa §3.2), both canonicalized by RDF Dataset Canonicalization
(pyld's URDNA2015, whose output equals RDFC-1.0's for documents without control characters in
their strings). The JSON-LD contexts come from the package only: canonicalizing never touches
the network, and a document naming any other context fails.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld

from portal.base.settings import Settings

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CONTEXT_PATH = "/contexts/livestream-v1.jsonld"
CRYPTOSUITE = "eddsa-rdfc-2022"
# multicodec ed25519-pub (0xed, as a varint 0xed 0x01) before the raw key (Multikey, CID §2.2.2).
_ED25519_PUB = b"\xed\x01"

_FILES = {VC_CONTEXT: "credentials-v2.jsonld"}


class UnknownContext(LookupError):
    """A document names a JSON-LD context the package does not ship."""


def our_context(settings: Settings) -> str:
    """The URL of the portal's own context (its terms for what a certificate states)."""
    return settings.issuer.rstrip("/") + CONTEXT_PATH


@functools.cache
def shipped_context(name: str) -> dict[str, Any]:
    """A context file shipped in ``portal/records/contexts``."""
    text = resources.files("portal.records").joinpath("contexts", name).read_text("utf-8")
    return dict(json.loads(text))


def context_document(settings: Settings, url: str) -> dict[str, Any]:
    """The shipped document of a context URL; ``UnknownContext`` for any other URL."""
    if url == our_context(settings):
        return shipped_context("livestream-v1.jsonld")
    if url in _FILES:
        return shipped_context(_FILES[url])
    raise UnknownContext(url)


def _loader(settings: Settings) -> Any:
    def load(url: str, _options: Any = None) -> dict[str, Any]:
        try:
            document = context_document(settings, url)
        except UnknownContext:
            raise jsonld.JsonLdError(f"context not shipped with the portal: {url}",
                                     "jsonld.LoadDocumentError",
                                     code="loading document failed") from None
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(document)}
    return load


def canonize(settings: Settings, document: dict[str, Any]) -> bytes:
    """The canonical N-Quads of a JSON-LD document, with the shipped contexts only."""
    nquads = jsonld.normalize(document, {
        "algorithm": "URDNA2015", "format": "application/n-quads",
        "documentLoader": _loader(settings),
    })
    return str(nquads).encode("utf-8")


def did_web(settings: Settings) -> str:
    """The issuer's ``did:web``: its host (a port as ``%3A``), then any path segments."""
    parts = urlsplit(settings.issuer)
    did = "did:web:" + quote(parts.netloc, safe="")
    segments = [s for s in parts.path.split("/") if s]
    return ":".join([did, *segments])


def multibase_key(x: bytes) -> str:
    """An Ed25519 public key as a Multikey's ``publicKeyMultibase`` (base58btc, ``z``)."""
    return "z" + base58.b58encode(_ED25519_PUB + x).decode()


def verification_method(settings: Settings, kid: str) -> str:
    return f"{did_web(settings)}#{kid}"


def _hash_data(settings: Settings, document: dict[str, Any], options: dict[str, Any]) -> bytes:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {**options, "@context": unsecured["@context"]}
    return (hashlib.sha256(canonize(settings, config)).digest()
            + hashlib.sha256(canonize(settings, unsecured)).digest())


def secure(settings: Settings, document: dict[str, Any], *, private: Ed25519PrivateKey,
           kid: str, created: str) -> dict[str, Any]:
    """``document`` with a ``DataIntegrityProof`` (``eddsa-rdfc-2022``) by the key ``kid``."""
    options = {
        "type": "DataIntegrityProof", "cryptosuite": CRYPTOSUITE, "created": created,
        "verificationMethod": verification_method(settings, kid),
        "proofPurpose": "assertionMethod",
    }
    signature = private.sign(_hash_data(settings, document, options))
    return {**document, "proof": {**options,
                                  "proofValue": "z" + base58.b58encode(signature).decode()}}


def verify(settings: Settings, document: dict[str, Any], public_keys: dict[str, bytes]) -> bool:
    """Check a document's ``eddsa-rdfc-2022`` proof with one of ``public_keys`` (by kid)."""
    proof = document.get("proof")
    if not isinstance(proof, dict) or proof.get("cryptosuite") != CRYPTOSUITE:
        return False
    method = str(proof.get("verificationMethod", ""))
    did, _, kid = method.partition("#")
    if did != did_web(settings) or kid not in public_keys:
        return False
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    value = str(proof.get("proofValue", ""))
    try:
        signature = base58.b58decode(value[1:]) if value.startswith("z") else b""
        Ed25519PublicKey.from_public_bytes(public_keys[kid]).verify(
            signature, _hash_data(settings, document, options))
    except Exception:  # any decoding, canonicalization or signature failure: not valid
        return False
    return True
