"""List import: a CSV of contacts (POST /imports/contacts, `crm import contacts`).

Each row ends as exactly one outcome, reported with its physical line number:

- ``invalid``: the row cannot be read (no or a bad e-mail, a consent without its date, a name with a line break ...);
  the report names the column;
- ``skipped_suppressed``: the address is suppressed (erased, do not contact, unsubscribed, bounced, complaint):
  nothing is written, so a re-imported address stays suppressed and an erased person does not come back;
- ``skipped_no_consent``: with ``require_consent`` (the default) a row that does not state marketing consent is not
  imported; ``require_consent=false`` imports such rows as contacts *without* marketing consent (a CRM migration).
  A row whose consent is not later than the contact's recorded withdrawal does not count as consent either (reason
  "consent withdrawn later (...)", ``withdrawn_at``): the newer withdrawal stands; with ``require_consent=false``
  the row updates the contact, its consent is a ledger entry with ``effective`` false and the contact stays without
  consent;
- ``created`` / ``updated``: written through `services.leads.upsert` (the one dedupe path), with the row's consent
  in the ledger (channel ``import``, the file and line in its metadata) when, and only when, the row states it;
- ``unchanged``: the same row of the same import was imported before (a re-run of the file writes nothing).

Each row is its own transaction: a crash half-way leaves whole rows only, and running the file again is idempotent
(the capture id is the import id, the line and a hash of what the row says). A later row with an address already
seen in the same request updates that contact and is reported as a duplicate. ``dry_run`` reports the same
outcomes (``created`` / ``updated`` predicted) without writing anything.

A request stops early (``complete: false``, ``next_line``) rather than run into the API's 30-second limit or a
throttled table; the client sends the rest again from ``next_line``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from crm_automation.domain import contact_import
from crm_automation.domain.addresses import address_key, normalise_email
from crm_automation.domain.consent import ConsentGiven, superseding
from crm_automation.domain.contact_import import CsvProblem, RowProblem, RowValues
from crm_automation.domain.leads import address_suppression
from crm_automation.errors import ConcurrentWriteError, ConflictError, InvalidRequestError, TransientError
from crm_automation.observability import logger
from crm_automation.services import crm, leads
from crm_automation.services.runtime import Runtime

__all__ = ["CsvProblem", "Outcome", "import_contacts", "import_id_of", "MAX_IDS"]

MAX_IDS = 100  # created / updated contact ids listed in a response (the counts are always complete)
_WRITE_ATTEMPTS = 3


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED_SUPPRESSED = "skipped_suppressed"
    SKIPPED_NO_CONSENT = "skipped_no_consent"
    INVALID = "invalid"


NO_CONSENT_REASON = ("the row does not state marketing consent (souhlas = ano with souhlas_kdy): not imported; "
                     "import with require_consent=false to add such rows as contacts without consent")


def _withdrawn_later(withdrawn_at: datetime, given_at: datetime) -> str:
    return (f"consent withdrawn later ({withdrawn_at:%Y-%m-%d %H:%M} UTC) than the row's consent "
            f"({given_at:%Y-%m-%d %H:%M} UTC): the withdrawal stands")


def import_id_of(source: str) -> str:
    """The import's id: the same source name is the same import (a re-run replays it)."""
    return "imp-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


# LeadIn field -> the canonical CSV field it comes from (to name the file's column in a validation error)
_FIELD_COLUMN = {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
                 "company": "company", "owner": "owner", "tags": "tags", "consent": "consent_at"}


def _lead(values: RowValues, *, source: str, owner: str | None, import_id: str,
          now: datetime) -> leads.LeadIn | RowProblem:
    consent = None
    if values.consent is not None and values.consent.granted and values.consent.at is not None:
        try:
            consent = ConsentGiven(
                granted=True, text_version=values.consent.text_version,
                source=values.consent.source or f"import:{source}", channel="import", at=values.consent.at,
                metadata={"file": source, "line": str(values.line), "import_id": import_id}, double_opt_in=False)
        except ValidationError as error:
            problem = error.errors()[0]
            field_name = {"text_version": "consent_text_version", "source": "consent_source"}.get(
                str(problem["loc"][0]), "consent")
            return RowProblem(values.line, values.columns.get(field_name, field_name), problem["msg"])
    content = {
        "email": values.email, "first_name": values.first_name, "last_name": values.last_name,
        "phone": values.phone, "company": values.company, "owner": values.owner or owner,
        "tags": list(values.tags), "custom_fields": values.custom_fields, "company_fields": values.company_fields,
        "consent": consent.model_dump(mode="json") if consent else None,
    }
    # What the row says (with the import's defaults): the same content on the same line is the same capture.
    row_hash = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    try:
        return leads.LeadIn(**content, source=f"import:{source}", channel="import",
                            capture_id=f"{import_id}-{values.line}-{row_hash}", at=now)
    except ValidationError as error:
        problem = error.errors()[0]
        loc = [str(p) for p in problem["loc"]]
        if loc and loc[0] in ("custom_fields", "company_fields"):
            column = f"{'custom' if loc[0] == 'custom_fields' else 'company'}.{loc[1] if len(loc) > 1 else ''}"
        else:
            column = values.columns.get(_FIELD_COLUMN.get(loc[0], loc[0]), loc[0]) if loc else None
        message = problem["msg"].removeprefix("Value error, ")
        return RowProblem(values.line, column, message)


class _Report:
    def __init__(self, import_id: str, source: str, options: dict[str, Any], rows: int) -> None:
        self.head = {"import_id": import_id, "source": source, **options, "rows": rows}
        self.counts = {outcome.value: 0 for outcome in Outcome}
        self.entries: list[dict[str, Any]] = []
        self.ids: dict[str, list[str]] = {"created": [], "updated": []}
        self.lines: dict[str, list[int]] = {"created": [], "updated": []}  # compact: every written row's line
        self.truncated = False
        self.next_line: int | None = None

    def add(self, line: int, outcome: Outcome, reason: str | None = None, **extra: Any) -> None:
        self.counts[outcome.value] += 1
        if outcome in (Outcome.CREATED, Outcome.UPDATED):
            self.lines[outcome.value].append(line)
            contact_id = extra.pop("contact_id", None)
            ids = self.ids[outcome.value]
            if contact_id and contact_id not in ids:
                if len(ids) < MAX_IDS:
                    ids.append(contact_id)
                else:
                    self.truncated = True
            if not extra.get("duplicate_of") and reason is None:
                return
            extra["contact_id"] = contact_id
        self.entries.append({"line": line, "outcome": outcome.value, "reason": reason,
                             **{k: v for k, v in extra.items() if v is not None}})

    def result(self) -> dict[str, Any]:
        return {**self.head, "processed": sum(self.counts.values()), "complete": self.next_line is None,
                "next_line": self.next_line, "counts": self.counts, "entries": self.entries,
                "lines": self.lines, "contact_ids": self.ids, "contact_ids_truncated": self.truncated}


def import_contacts(rt: Runtime, body: bytes, now: datetime, *, source: str, owner: str | None = None,
                    require_consent: bool = True, dry_run: bool = False, first_line: int = 2,
                    out_of_time: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Import the CSV `body` (see the module doc). Raises CsvProblem when the body as a whole cannot be read
    (``too_large``: over a limit), before anything is written. `out_of_time()` true: stop before the next row and
    report ``next_line`` (also done when the table keeps throttling after some rows were written)."""
    parsed = contact_import.parse(contact_import.decode(body), first_line=first_line)
    import_id = import_id_of(source)
    zone = ZoneInfo(rt.settings.timezone)
    report = _Report(import_id, source, {"dry_run": dry_run, "require_consent": require_consent,
                                         "first_line": first_line}, len(parsed.rows))
    rows: list[tuple[int, leads.LeadIn | RowProblem]] = []
    for row in parsed.rows:
        values = contact_import.interpret(parsed, row, now=now, zone=zone)
        rows.append((row.line, values if isinstance(values, RowProblem) else
                     _lead(values, source=source, owner=owner, import_id=import_id, now=now)))
    keys = {line: address_key(lead.email, rt.keys.address) for line, lead in rows if isinstance(lead, leads.LeadIn)}
    records = rt.store.addresses.batch_get(list(keys.values())) if keys else {}
    first_seen: dict[str, int] = {}  # normalised address -> the line that created or updated its contact
    for line, lead in rows:
        if out_of_time():
            report.next_line = line
            break
        if isinstance(lead, RowProblem):
            report.add(line, Outcome.INVALID, lead.message, column=lead.column)
            continue
        suppression = address_suppression(records.get(keys[line]))
        if suppression is not None:
            report.add(line, Outcome.SKIPPED_SUPPRESSED, f"the address is suppressed ({suppression.value}): "
                       "not imported", suppression=suppression.value)
            continue
        if lead.consent is None and require_consent:
            report.add(line, Outcome.SKIPPED_NO_CONSENT, NO_CONSENT_REASON)
            continue
        note = None  # the row's consent is superseded by the contact's newer withdrawal
        if lead.consent is not None:
            holder = crm.contact_holding(rt, lead.email, records.get(keys[line]))
            newer = superseding(holder, lead.consent) if holder is not None else None
            if newer is not None and newer.at is not None:
                note = _withdrawn_later(newer.at, lead.consent.at)
                if require_consent:
                    report.add(line, Outcome.SKIPPED_NO_CONSENT, f"{note}: not imported",
                               withdrawn_at=newer.at.isoformat())
                    continue
                note += ": the contact stays without consent"
        address = normalise_email(lead.email)
        duplicate_of = first_seen.get(address)
        if dry_run:
            exists = duplicate_of is not None or crm.contact_holding(rt, lead.email, records.get(keys[line])) \
                is not None
            _written(report, line, Outcome.UPDATED if exists else Outcome.CREATED, None, duplicate_of, note)
            first_seen.setdefault(address, line)
            continue
        try:
            upserted = _upsert(rt, lead, now)
        except (InvalidRequestError, ConflictError) as error:
            if isinstance(error, ConcurrentWriteError):
                report.next_line = line  # kept changing under us: the client sends the rest again
                break
            report.add(line, Outcome.INVALID, str(error))
            continue
        except TransientError:
            if report.counts == {o.value: 0 for o in Outcome}:
                raise  # nothing done yet: the whole request is a 503 to retry
            report.next_line = line
            break
        if not upserted.changed:
            report.add(line, Outcome.UNCHANGED, "imported before (the same row of the same import): nothing to do",
                       contact_id=upserted.contact.contact_id if upserted.contact else None)
        else:
            _written(report, line, Outcome.CREATED if upserted.created else Outcome.UPDATED,
                     upserted.contact.contact_id, duplicate_of, note)
        first_seen.setdefault(address, line)
    result = report.result()
    logger.info("Contacts imported" if not dry_run else "Contact import dry run",
                extra={"import_id": import_id, "counts": result["counts"], "complete": result["complete"],
                       "first_line": first_line})
    return result


def _written(report: _Report, line: int, outcome: Outcome, contact_id: str | None, duplicate_of: int | None,
             note: str | None = None) -> None:
    if duplicate_of is not None:
        reason = f"the same address as line {duplicate_of}: this row updates that contact"
        report.add(line, Outcome.UPDATED, f"{reason}; {note}" if note else reason,
                   contact_id=contact_id, duplicate_of=duplicate_of)
    else:
        report.add(line, outcome, note, contact_id=contact_id)


def _upsert(rt: Runtime, lead: leads.LeadIn, now: datetime) -> leads.Upserted:
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            return leads.upsert(rt, lead, now)
        except ConcurrentWriteError:
            if attempt == _WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
