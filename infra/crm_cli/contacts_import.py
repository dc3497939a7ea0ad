"""``crm import contacts``: reading a contact list CSV and sending it to ``POST /imports/contacts`` in parts.

The file is split by rows, never inside a quoted field: each part is the header line plus whole rows, sent with
``first_line`` (the file line of its first row), so the line numbers the API reports are the file's own. Blank lines
travel with the row before them for the same reason. A Windows-1250 file (Czech Excel's "CSV (oddělený středníkem)")
is converted to UTF-8 before sending. A part the API could not finish in time (``complete: false``) is sent again
from ``next_line``; a part that fails stops the import with how far it got (running the file again is safe: rows
already imported are reported unchanged).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_automation.domain.addresses import normalise_email
from crm_automation.domain.contact_import import CsvProblem, header_columns, sniff_delimiter

from crm_cli.client import CrmError

__all__ = ["BATCH_SIZE", "OUTCOMES", "ContactFile", "FileRow", "ImportReport", "read_file", "run_import"]

BATCH_SIZE = 500  # rows per request: well inside the API's 5,000 rows and its 30-second limit
OUTCOMES = ("created", "updated", "unchanged", "skipped_suppressed", "skipped_no_consent", "invalid")
MAX_IDS = 100


@dataclass(frozen=True)
class FileRow:
    line: int  # the physical line where the row starts
    text: str  # the row's lines as in the file (with any blank lines after it)
    email: str  # the e-mail cell, as written (for the report)


@dataclass
class ContactFile:
    path: Path
    header: str  # the header line(s) as in the file
    rows: list[FileRow]
    encoding: str  # "utf-8" or "windows-1250" (converted)


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1250"), "windows-1250"  # Czech Excel's "CSV (oddělený středníkem)"
    except UnicodeDecodeError:
        raise CrmError(f"{path} is neither UTF-8 nor Windows-1250: save it as \"CSV UTF-8\"") from None


def read_file(path: Path) -> ContactFile:
    """The file split into its header and rows (physical line numbers kept). Raises CrmError for a file that cannot
    be read or whose header the API would refuse (no e-mail column, an unknown column)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CrmError(f"Cannot read {path}: {exc.strerror or exc}") from None
    text, encoding = _decode(raw, path)
    lines = io.StringIO(text, newline="").readlines()  # the same line breaks the csv module counts
    reader = csv.reader(iter(lines), delimiter=sniff_delimiter(lines[0] if lines else ""), strict=True)
    try:
        header = next(reader)
        columns = header_columns(header)
    except StopIteration:
        raise CrmError(f"{path} is empty (it needs a header line with an `email` column)") from None
    except (csv.Error, CsvProblem) as exc:
        raise CrmError(f"{path}: {exc}") from None
    email_at = next(i for i, c in enumerate(columns) if c.field == "email")
    header_end = reader.line_num
    rows: list[FileRow] = []
    start = header_end + 1
    tail: list[str] = []  # blank lines before the first row stay with the header
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # Unreadable from here on (a quote left open): send the rest as it is, the API reports the line.
            rows.append(FileRow(start, "".join(lines[start - 1:]), ""))
            break
        end = reader.line_num
        chunk = "".join(lines[start - 1:end])
        if not any(c.strip() for c in cells):
            if rows:
                rows[-1] = FileRow(rows[-1].line, rows[-1].text + chunk, rows[-1].email)
            else:
                tail.append(chunk)
        else:
            email = cells[email_at].strip() if email_at < len(cells) else ""
            rows.append(FileRow(start, chunk, email))
        start = end + 1
    head = "".join(lines[:header_end]) + "".join(tail)
    if rows and not head.endswith(("\n", "\r")):
        head += "\n"
    return ContactFile(path, head, rows, encoding)


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    require_consent: bool
    rows: int = 0
    requests: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    entries: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: dict[str, list[str]] = field(default_factory=lambda: {"created": [], "updated": []})
    contact_ids_truncated: bool = False

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "dry_run": self.dry_run, "require_consent": self.require_consent,
                "rows": self.rows, "processed": self.processed, "requests": self.requests, "counts": self.counts,
                "entries": sorted(self.entries, key=lambda e: e["line"]), "contact_ids": self.contact_ids,
                "contact_ids_truncated": self.contact_ids_truncated}


Send = Callable[[str, int], Mapping[str, Any]]


def run_import(contact_file: ContactFile, send: Send, report: ImportReport, *, batch_size: int = BATCH_SIZE,
               progress: Callable[[int], None] = lambda done: None) -> ImportReport:
    """Send the rows ``batch_size`` at a time through ``send(csv_text, first_line)``; merge the answers into
    ``report`` (entries get the row's e-mail; a row updating a contact created by an earlier part is reported as a
    duplicate, as the API does within one part). Raises CrmError saying how far it got."""
    rows = contact_file.rows
    report.rows = len(rows)
    emails = {row.line: row.email for row in rows}
    first_written: dict[str, int] = {}  # normalised address -> the line that created or updated its contact
    position = 0
    while position < len(rows):
        part = rows[position:position + batch_size]
        try:
            answer = send(contact_file.header + "".join(r.text for r in part), part[0].line)
        except CrmError as exc:
            done = f"lines before {part[0].line} were imported" if position else "nothing was imported"
            raise CrmError(f"{exc} (at line {part[0].line}; {done}; importing the file again is safe)") from None
        report.requests += 1
        next_line = answer.get("next_line") if answer.get("complete") is False else None
        handled = [r for r in part if next_line is None or r.line < next_line]
        if not handled:
            raise CrmError(f"The API made no progress at line {part[0].line}; try again later "
                           "(importing the file again is safe)")
        _merge(report, answer, handled, emails, first_written)
        position += len(handled)
        progress(position)
    return report


def _merge(report: ImportReport, answer: Mapping[str, Any], handled: list[FileRow], emails: dict[int, str],
           first_written: dict[str, int]) -> None:
    for outcome, count in (answer.get("counts") or {}).items():
        if outcome in report.counts and isinstance(count, int):
            report.counts[outcome] += count
    for outcome, ids in (answer.get("contact_ids") or {}).items():
        kept = report.contact_ids.setdefault(outcome, [])
        for contact_id in ids or []:
            if contact_id in kept:
                continue
            if len(kept) < MAX_IDS:
                kept.append(contact_id)
            else:
                report.contact_ids_truncated = True
    report.contact_ids_truncated |= bool(answer.get("contact_ids_truncated"))
    entries = {e["line"]: dict(e) for e in answer.get("entries") or [] if isinstance(e.get("line"), int)}
    created = set((answer.get("lines") or {}).get("created") or [])
    for row in handled:
        entry = entries.get(row.line)
        written = entry is None or entry.get("outcome") in ("created", "updated")
        address = normalise_email(row.email) if row.email else ""
        if written and address:
            earlier = first_written.get(address)
            if entry is None and earlier is not None:  # a duplicate across parts: the API saw only its own part
                entry = {"line": row.line, "outcome": "updated", "duplicate_of": earlier,
                         "reason": f"the same address as line {earlier}: this row updates that contact"}
                if row.line in created:  # a dry run: the earlier part's contact was not really created
                    report.counts["created"] -= 1
                    report.counts["updated"] += 1
            first_written.setdefault(address, row.line)
        if entry is not None:
            report.entries.append({**entry, "email": row.email})
