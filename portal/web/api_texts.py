"""The API reference's operation summaries and descriptions, marked for translation.

The JSON API states them in English (``portal.api``); the HTML reference shows them in the
reader's language (``portal.web.api_reference``), looked up by their text with runs of white
space made one space. tests/unit/web/test_api_reference.py fails when an operation says
something not listed here, so a changed description is translated again.
"""

from __future__ import annotations


def N_(message: str) -> str:  # the name gettext tools look for
    """Mark a message for the catalog; it is translated where it is shown."""
    return message


TEXTS = frozenset({
    N_("A registration by its number"),
    N_("Everything a platform checks before a stream: status, validity, the signed certificate"
       " and where its hash is in the transparency log. Drafts are not found."),
    N_("Check up to 1000 numbers at once"),
    N_("The nightly batch check: one result per number, in the order asked."),
    N_("Does a person (ID and legal name) hold a registration?"),
    N_("Whether the person with this ID document and legal name holds a registration (drafts "
       "excluded). Both must match; when either differs the answer is only `match: false`, so "
       "the call reveals nothing about the other. Every call, matching or not, is written to "
       "the personal-data access log that auditors read, naming the platform."),
    N_("Check up to 1000 people and buyers against the blocklists"),
    N_("People are checked against the portal's person blocklist (active entries, by the keyed"
       " hash of their ID); buyers against this platform's own buyer blocklist only. One "
       "result per entry, in the order asked."),
    N_("Bar a buyer on this platform"),
    N_("Add a buyer to this platform's own blocklist; no other platform sees the entry. An ID "
       "number, when given, is kept only as its keyed hash (never in clear)."),
    N_("Lift one of this platform's buyer blocks"),
    N_("Lift an entry this platform added. Another platform's entry, and one already lifted, "
       "are not found."),
    N_("Report a violation by a registered operator"),
    N_("Open a case in the moderators' queue about a registration that was ever approved, "
       "whatever its state now (a revoked streamer may still be live); one never approved is "
       "refused on `number`. The case's events (`case.opened`, `case.closed`) go to the "
       "reporting platform alone."),
    N_("The events this platform receives, oldest first"),
    N_("Registration, certificate, sanction and person-blocklist events (every platform), and "
       "this platform's own buyer-blocklist and case events, in id order. Poll with "
       "after=next."),
    N_("A registration's certificate as a Verifiable Credential"),
    N_("The current certificate as a W3C Verifiable Credential 2.0, for verifying with the "
       "standard VC libraries (docs/api.md). Drafts, unknown numbers and registrations never "
       "approved are not found."),
    N_("This platform's inspection requests"),
    N_("Requests from auditors and authorities for documents or data, about one registration "
       "(`number`) or about the platform itself, earliest deadline first. Each is announced by"
       " an `inspection.requested` event; answer with `POST /inspection-requests/{id}/answer`."),
    N_("Answer an inspection request with text and files"),
    N_("multipart/form-data: a `text` field and any number of `files` (up to 10; JPG, PNG or "
       "PDF up to 5 MB each, checked as the registration wizard checks documents, with its "
       "messages under `files[<index>]`). The answer closes the request, on time or late; the "
       "authority reads it in its console or over the API. Another platform's request is not "
       "found (404); one already answered is 409."),
    N_("Search the registrations of the jurisdiction"),
    N_("Registrations (drafts excluded) within the client's jurisdiction, newest number first,"
       " a page at a time. Names are masked."),
    N_("Find the registrations of an ID document or a USCC, with a reason"),
    N_("The registrations of one identity document (its type and number) or one organisation "
       "(its USCC), under any account, found through the portal's keyed indexes. Every look-up"
       " is written to the personal-data access log with the client and the reason, found or "
       "not."),
    N_("A registration's whole record, masked"),
    N_("Everything about a registration within the jurisdiction: its answers now and as each "
       "version was submitted, its history, the moderators' decisions, sanctions and appeals, "
       "violation cases and every certificate issued. Personal data is masked; reveal a clear "
       "value with `POST /audit/registrations/{number}/reveal`. Outside the jurisdiction, and "
       "for drafts, the answer is 404."),
    N_("Reveal one clear personal value, with a reason"),
    N_("The clear ID number, phone number, legal name or guardian's ID number of a "
       "registration within the jurisdiction. Every reveal is written to the personal-data "
       "access log with the client and the reason before the value is sent. The answer is "
       "never stored, so an `Idempotency-Key` is ignored: each call is a new reveal."),
    N_("Who saw clear personal data of the jurisdiction's registrations"),
    N_("Every reveal of clear personal data (staff, authority clients) and every platform "
       "identity match, newest first, for the registrations within the jurisdiction. A "
       "national authority also sees identity matches that found no registration."),
    N_("Every registration the search finds, as CSV, streamed"),
    N_("The columns of the auditor's console export (masked values only), UTF-8 with a "
       "byte-order mark, newest number first, streamed as it is read; the file name states the"
       " filters and the time. Each export is recorded with the client, the filters and the "
       "number of rows."),
    N_("Ask a platform for documents or data"),
    N_("Ask a platform, about one registration within this client's jurisdiction (`number`) or"
       " about the platform itself, for documents or data by a deadline. The platform receives"
       " `inspection.requested` (by webhook and in its events feed) and answers over the API; "
       "read the answers with `GET /audit/inspection-requests/{id}`."),
    N_("An inspection request with its answers"),
    N_("The request, its state (open, overdue or answered) and the platform's answers, each "
       "file with the link to download it. Requests about a registration outside this client's"
       " jurisdiction are not found."),
    N_("A file a platform sent with its answer"),
    N_("The file as stored (images re-encoded without their metadata), with its type and name;"
       " the answers of `GET /audit/inspection-requests/{id}` link to it. A file of a request "
       "outside this client's jurisdiction is not found."),
    N_("The log's signed head"),
    N_("The signed tree head covering every committed entry (DESIGN §6); signed on demand when"
       " entries were added since the last one."),
    N_("Log entries by index"),
    N_("Entries from `start` (inclusive) to `end` (exclusive). 422 unless `start` < `end`, "
       "`end` - `start` ≤ 1000 and `end` ≤ the log's size (the `tree_size` of "
       "/api/v1/log/checkpoint)."),
    N_("Proof that an entry is in the log"),
    N_("The audit path from entry `index` to the root of the tree of size `tree_size` (RFC "
       "9162 §2.1.3). 422 unless `index` < `tree_size` ≤ the log's size."),
    N_("Proof that the log only grew"),
    N_("The consistency proof from tree size `first` to tree size `second` (RFC 9162 §2.1.4). "
       "422 unless `first` ≤ `second` ≤ the log's size."),
    N_("The keys that sign certificates and checkpoints"),
    N_("Ed25519 public keys as JWKs; retired keys stay listed so old signatures keep "
       "verifying."),
    N_("Is the service up?"),
    N_("Liveness and database reachability; 503 with the same body when the database cannot be"
       " reached."),
})
