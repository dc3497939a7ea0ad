"""Reading a suppression CSV (as marketers export it) and sending it in batches.

The file needs an ``email`` (or ``e-mail``) column; an optional ``reason`` column overrides the default reason row by
row. Comma, semicolon (Czech Excel) and tab separators are recognised from the header line; UTF-8 (with or without
BOM) and Windows-1250 are read. Line numbers are the file's own (the header is line 1), so a marketer can find a
rejected row in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_cli.client import ApiError, CrmError

__all__ = ["BATCH_SIZE", "SUPPRESSION_REASONS", "CsvRow", "ImportResult", "import_rows", "read_csv"]

BATCH_SIZE = 500
SUPPRESSION_REASONS = ("unsubscribed", "do_not_contact", "bounced", "complaint", "erased")

_EMAIL_COLUMNS = ("email", "e-mail")
_REASON_COLUMNS = ("reason",)


@dataclass(frozen=True)
class CsvRow:
    line: int
    email: str
    reason: str


@dataclass
class ImportResult:
    rows: int = 0
    batches: int = 0
    added: int = 0
    already: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "batches": self.batches, "added": self.added, "already": self.already,
            "invalid": sorted(self.invalid, key=lambda r: r["line"]),
        }


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1250")  # a CSV saved by Czech Excel


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, default_reason: str) -> tuple[list[CsvRow], list[dict[str, Any]]]:
    """The rows to send and the rows rejected before sending (``{"line", "email", "error"}``)."""
    try:
        text = _decode(path.read_bytes())
    except OSError as exc:
        raise CrmError(f"Cannot read {path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    header = next(reader, None)
    if header is None:
        raise CrmError(f"{path} is empty (it needs a header line with an `email` column)")
    names = [h.strip().lower() for h in header]
    email_at = next((i for i, n in enumerate(names) if n in _EMAIL_COLUMNS), None)
    if email_at is None:
        found = ", ".join(h.strip() for h in header if h.strip()) or "none"
        raise CrmError(f"{path} has no `email` column in its header line (columns: {found})")
    reason_at = next((i for i, n in enumerate(names) if n in _REASON_COLUMNS), None)
    rows: list[CsvRow] = []
    rejected: list[dict[str, Any]] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1  # a quoted field may span lines: report where the row starts
        if not any(c.strip() for c in cells):
            continue
        email = cells[email_at].strip() if email_at < len(cells) else ""
        reason = default_reason
        if reason_at is not None and reason_at < len(cells) and cells[reason_at].strip():
            reason = cells[reason_at].strip().lower()
        if not email:
            rejected.append({"line": line, "email": "", "error": "missing e-mail"})
        elif reason not in SUPPRESSION_REASONS:
            rejected.append({"line": line, "email": email,
                             "error": f"unknown reason {reason!r} (allowed: {', '.join(SUPPRESSION_REASONS)})"})
        else:
            rows.append(CsvRow(line, email, reason))
    return rows, rejected


def _batches(rows: Sequence[CsvRow], size: int) -> Iterator[tuple[int, Sequence[CsvRow]]]:
    for start in range(0, len(rows), size):
        yield start, rows[start:start + size]


def import_rows(
    rows: Sequence[CsvRow],
    send: Callable[[list[dict[str, str]]], Mapping[str, Any]],
    *,
    batch_size: int = BATCH_SIZE,
    result: ImportResult | None = None,
) -> ImportResult:
    """Send ``rows`` through ``send`` (one ``POST /suppressions``) ``batch_size`` at a time; totals and line numbers.

    A batch the API refuses as a whole (400/422, e.g. every address in it invalid) counts as invalid rows, unless every
    batch is refused (then it is the request that is wrong: :class:`CrmError`). Any other failure stops the import
    with a :class:`CrmError` that says how far it got (importing the same file again is harmless: addresses already on
    the list only count as ``already``).
    """
    result = result or ImportResult()
    total = (len(rows) + batch_size - 1) // batch_size
    refusals: list[ApiError] = []
    for number, (start, batch) in enumerate(_batches(rows, batch_size), 1):
        try:
            answer = send([{"email": row.email, "reason": row.reason} for row in batch])
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise _stopped(exc, rows, start, number, total) from None
            # The whole batch refused (e.g. "no valid address in the list"): its rows are the invalid ones.
            refusals.append(exc)
            result.invalid += [{"line": row.line, "email": row.email, "error": exc.message} for row in batch]
            continue
        except CrmError as exc:
            raise _stopped(exc, rows, start, number, total) from None
        result.batches += 1
        result.rows += len(batch)
        result.added += int(answer.get("added", 0) or 0)
        result.already += int(answer.get("already", 0) or 0)
        for item in answer.get("invalid", []) or []:
            index = item.get("index")
            if isinstance(index, int) and 0 <= index < len(batch):
                row = batch[index]
                result.invalid.append({"line": row.line, "email": row.email, "error": str(item.get("error", ""))})
    if refusals and len(refusals) == total:  # nothing accepted at all: a problem of the request, not of some rows
        raise CrmError(str(refusals[0])) from None
    return result


def _stopped(exc: CrmError, rows: Sequence[CsvRow], start: int, number: int, total: int) -> CrmError:
    done = f"lines before {rows[start].line} were sent" if start else "nothing was imported"
    return CrmError(f"{exc} (batch {number}/{total}; {done}; importing the file again is safe)")
