"""Reading a contact list (CSV) for import: decoding, the header and its Czech/English aliases, physical line
numbers, and what each row says (names, tags, custom fields, consent). Pure: no AWS, no I/O.

The file is what a marketer exports from a spreadsheet or another CRM:

- UTF-8, with or without a BOM (anything else is refused with the byte and line that are wrong);
- ``;`` (Czech Excel), ``,`` or tab separated, recognised from the header line; quoted fields may hold the
  separator, doubled quotes and line breaks;
- a header line is required; columns are matched ignoring case, accents, spaces, ``-`` and ``_`` (``E-mail``,
  ``Jméno``, ``souhlas kdy``); ``custom.<name>`` / ``company.<name>`` columns (``vlastni.<name>`` /
  ``firma.<name>``) fill custom and company fields; any other column is refused by name (a typo must not drop data);
- line numbers are the file's own physical lines (the header is line 1; a quoted field spanning lines counts every
  line), so a marketer finds a reported row in the spreadsheet or an editor. ``first_line`` shifts them for a client
  that sends a big file in parts (each part with the header line).

Consent is never assumed: a row grants marketing consent only with a yes in the consent column (``ano``/``yes``/
``true``/``1``) **and** the time it was given (``souhlas_kdy``); see :func:`parse_consent_at`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

MAX_ROWS = 5000  # data rows per request
MAX_BYTES = 4 * 1024 * 1024  # request body; a Lambda request payload (base64 included) must stay under 6 MB
CHANNEL = "import"

# Canonical field -> the header spellings accepted (compared after _norm: lower case, no accents, "_" for - and space).
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "mail", "emailova_adresa", "e_mailova_adresa"),
    "first_name": ("first_name", "firstname", "jmeno", "krestni_jmeno"),
    "last_name": ("last_name", "lastname", "surname", "prijmeni"),
    "company": ("company", "firma", "spolecnost"),
    "phone": ("phone", "telefon", "tel", "mobil"),
    "owner": ("owner", "vlastnik", "obchodnik"),
    "tags": ("tags", "stitky"),
    "consent": ("consent", "souhlas", "marketing_consent", "souhlas_s_marketingem"),
    "consent_at": ("consent_at", "souhlas_kdy", "datum_souhlasu", "consent_date"),
    "consent_text_version": ("consent_text_version", "verze_textu", "verze_souhlasu", "consent_version"),
    "consent_source": ("consent_source", "zdroj_souhlasu"),
}
_FIELD_OF = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_CUSTOM_PREFIXES = {"custom": "custom", "vlastni": "custom", "company": "company", "firma": "company"}
KNOWN_COLUMNS = ("email", "first_name", "last_name", "company", "phone", "owner", "tags", "consent", "consent_at",
                 "consent_text_version", "consent_source", "custom.<name>", "company.<name>")

YES = frozenset({"ano", "a", "yes", "y", "true", "1", "x"})
NO = frozenset({"ne", "n", "no", "false", "0", ""})
TAG_SEPARATOR = "|"
# C0 controls and DEL; tab and line breaks are allowed only in custom and company fields (notes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\t\r\n]")
OLDEST_CONSENT = datetime(1990, 1, 1, tzinfo=UTC)  # an earlier date is a spreadsheet artefact (0. 1. 1900), not proof
CLOCK_SKEW = timedelta(minutes=5)


class CsvProblem(ValueError):
    """The body as a whole cannot be read (400), nothing is written. ``too_large``: a limit is exceeded (413)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Column:
    header: str  # as written in the file (reported back in row errors)
    field: str  # a canonical field, "custom", "company_field", or "" (a column without a header: must stay empty)
    name: str = ""  # the custom / company field's name


@dataclass(frozen=True)
class CsvRow:
    line: int  # the physical line where the row starts (file numbering, first_line applied)
    cells: tuple[str, ...]


@dataclass(frozen=True)
class ContactCsv:
    columns: tuple[Column, ...]
    delimiter: str
    rows: tuple[CsvRow, ...]


@dataclass(frozen=True)
class ConsentStatement:
    """What a row says about marketing consent. Only ``granted`` with ``at`` counts (the parser guarantees ``at``)."""

    granted: bool
    at: datetime | None = None
    text_version: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class RowValues:
    line: int
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    consent: ConsentStatement | None = None  # None: the row says nothing about consent (or says no)
    custom_fields: dict[str, str] = field(default_factory=dict)
    company_fields: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # canonical field -> the file's header (for errors)


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str | None  # the file's header text of the offending column
    message: str


# --- decoding and the header ----------------------------------------------------------------------------------------


def decode(raw: bytes, max_bytes: int = MAX_BYTES) -> str:
    """The body as text: UTF-8 with or without BOM. Raises CsvProblem naming the first wrong byte and its line."""
    if len(raw) > max_bytes:
        raise CsvProblem(f"the body has {len(raw):,} bytes, more than the {max_bytes:,} allowed per request: "
                         "send the file in parts (each with the header line, first_line= giving where the part "
                         "starts), as `crm import contacts` does", too_large=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise CsvProblem(
            f"the body is not UTF-8: byte 0x{raw[error.start]:02X} at line {line}, byte {column} of the line "
            "(save the file as \"CSV UTF-8\"; Windows-1250 exports of Czech Excel need converting first, "
            "which `crm import contacts` does)") from None
    return text.removeprefix("\ufeff")


def _norm(header: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFKD", header) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-]+", "_", plain.strip().casefold()).strip("_")


def sniff_delimiter(header_line: str) -> str:
    """``;`` (Czech Excel), ``,`` or tab: whichever the header line holds most of (``,`` when none)."""
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def header_columns(header: list[str]) -> tuple[Column, ...]:
    """The columns of the header line. Raises CsvProblem for a missing e-mail column, an unknown or repeated one."""
    columns: list[Column] = []
    unknown: list[str] = []
    for raw in header:
        text = raw.strip()
        key = _norm(text)
        prefix, dot, rest = text.partition(".")
        if not key:
            columns.append(Column(text, ""))
        elif dot and _norm(prefix) in _CUSTOM_PREFIXES and rest.strip():
            kind = "custom" if _CUSTOM_PREFIXES[_norm(prefix)] == "custom" else "company_field"
            columns.append(Column(text, kind, rest.strip()[:100]))
        elif key in _FIELD_OF:
            columns.append(Column(text, _FIELD_OF[key]))
        else:
            unknown.append(text)
    if unknown:
        raise CsvProblem(f"line 1: unknown column(s) {', '.join(repr(u) for u in unknown)}; known columns: "
                         f"{', '.join(KNOWN_COLUMNS)} (Czech names too: jméno, příjmení, firma, telefon, vlastník, "
                         "štítky, souhlas, souhlas_kdy, verze_textu, zdroj_souhlasu); keep other data as "
                         "custom.<name> columns")
    seen: dict[tuple[str, str], str] = {}
    for column in columns:
        if not column.field:
            continue
        key = (column.field, column.name.casefold())
        if key in seen:
            raise CsvProblem(f"line 1: columns {seen[key]!r} and {column.header!r} mean the same field")
        seen[key] = column.header
    if not any(c.field == "email" for c in columns):
        found = ", ".join(repr(c.header) for c in columns if c.header) or "none"
        raise CsvProblem(f"line 1: the header has no e-mail column (email / e-mail); columns found: {found}")
    return tuple(columns)


def parse(text: str, *, first_line: int = 2, max_rows: int = MAX_ROWS) -> ContactCsv:
    """Split the CSV text into the header's columns and the data rows with their physical line numbers.

    ``first_line`` is the file line of the first data row (2 for a whole file; a part of a bigger file carries the
    header line and says where its rows start). Blank lines are skipped. Raises CsvProblem for what makes the whole
    text unreadable (no header, an unknown column, a quote left open), with the line."""
    offset = first_line - 2
    text = text.removeprefix("\ufeff")
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblem("the body is empty: the first line must be the header, e.g. "
                         "email;jméno;příjmení;souhlas;souhlas_kdy") from None
    except csv.Error as error:
        raise CsvProblem(f"line 1: {error}") from None
    if not any(h.strip() for h in header):
        raise CsvProblem("line 1 is empty: the first line must be the header, e.g. email;jméno;příjmení")
    columns = header_columns(header)
    rows: list[CsvRow] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise CsvProblem(f"line {start + offset}: the row cannot be read as CSV ({error}); check its quotes "
                             "(a quote inside a field is written twice: \"\")") from None
        line, start = start + offset, reader.line_num + 1  # a quoted field may span lines: the row starts here
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= max_rows:
            raise CsvProblem(f"more than {max_rows:,} rows in one request: send the file in parts (each with the "
                             "header line and first_line=), as `crm import contacts` does", too_large=True)
        rows.append(CsvRow(line, tuple(cells)))
    return ContactCsv(columns, delimiter, tuple(rows))


# --- one row ---------------------------------------------------------------------------------------------------------

_CZ_DATE = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_consent_at(value: str, zone: tzinfo) -> datetime:
    """When a consent was given, as spreadsheets write it: ISO 8601 (``2025-03-01``, ``2025-03-01 10:15``,
    ``2025-03-01T10:15:00+01:00``) or Czech (``1. 3. 2025``, ``01.03.2025 10:15``). A time without a zone is local
    time in ``zone``; a date alone is the start of that day. Raises ValueError."""
    text = value.strip()
    match = _CZ_DATE.match(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        except ValueError as error:
            raise ValueError(f"{value!r} is not a date: {error}") from None
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            try:
                moment = datetime.combine(date.fromisoformat(text), time())
            except ValueError:
                raise ValueError(f"{value!r} is not a date: write e.g. 2025-03-01, 2025-03-01 10:15, "
                                 "2025-03-01T10:15:00+01:00 or 1. 3. 2025") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _consent(cells: dict[str, str], columns: dict[str, str], line: int, now: datetime,
             zone: tzinfo) -> ConsentStatement | RowProblem | None:
    raw = cells.get("consent", "")
    answer = _norm(raw)
    if answer in NO:
        return None
    if answer not in YES:
        return RowProblem(line, columns["consent"],
                          f"{raw.strip()!r} is not a yes/no answer: write ano/ne (yes/no, 1/0) or leave it empty")
    when = cells.get("consent_at", "").strip()
    if not when:
        return RowProblem(line, columns.get("consent_at", "consent_at"),
                          "a consent needs the time it was given (souhlas_kdy / consent_at, e.g. 2025-03-01): "
                          "without it the consent cannot be proven and is not imported")
    try:
        at = parse_consent_at(when, zone)
    except ValueError as error:
        return RowProblem(line, columns.get("consent_at", "consent_at"), str(error))
    except OverflowError:
        return RowProblem(line, columns.get("consent_at", "consent_at"), f"{when!r} is not a date")
    if at > now + CLOCK_SKEW:
        return RowProblem(line, columns.get("consent_at", "consent_at"), f"{when!r} is in the future")
    if at < OLDEST_CONSENT:
        return RowProblem(line, columns.get("consent_at", "consent_at"),
                          f"{when!r} is before 1990: not a real consent date")
    return ConsentStatement(granted=True, at=at, text_version=cells.get("consent_text_version", "").strip() or None,
                            source=cells.get("consent_source", "").strip() or None)


def interpret(contact_csv: ContactCsv, row: CsvRow, *, now: datetime, zone: tzinfo) -> RowValues | RowProblem:
    """What the row says, or the first problem found in it (with the column). Empty cells say nothing (an import
    never blanks out a field); tags are separated by ``|``."""
    columns = contact_csv.columns
    if len(row.cells) > len(columns):
        return RowProblem(row.line, None, f"the row has {len(row.cells)} fields, the header {len(columns)}: "
                                          f"a separator ({contact_csv.delimiter!r}) inside a field needs quotes")
    cells: dict[str, str] = {}
    where: dict[str, str] = {}
    custom: dict[str, str] = {}
    company: dict[str, str] = {}
    for column, value in zip(columns, row.cells, strict=False):
        multiline_ok = column.field in ("custom", "company_field")
        if _CONTROL.search(value) or (not multiline_ok and _LINE_BREAK.search(value.strip())):
            return RowProblem(row.line, column.header or None,
                              "a control character or line break in the field" if not multiline_ok
                              else "a control character in the field")
        value = value.strip()
        if not column.field:
            if value:
                return RowProblem(row.line, None, f"a value ({value[:40]!r}) in a column without a header")
            continue
        if column.field == "custom":
            if value:
                custom[column.name] = value
            continue
        if column.field == "company_field":
            if value:
                company[column.name] = value
            continue
        cells[column.field] = value
        where[column.field] = column.header
    email = cells.get("email", "")
    if not email:
        return RowProblem(row.line, where.get("email", "email"), "missing e-mail")  # a short row may end before it
    consent = _consent(cells, where, row.line, now, zone)
    if isinstance(consent, RowProblem):
        return consent
    tags = tuple(dict.fromkeys(t.strip() for t in cells.get("tags", "").split(TAG_SEPARATOR) if t.strip()))
    return RowValues(
        line=row.line, email=email,
        first_name=cells.get("first_name") or None, last_name=cells.get("last_name") or None,
        company=cells.get("company") or None, phone=cells.get("phone") or None, owner=cells.get("owner") or None,
        tags=tags, consent=consent, custom_fields=custom, company_fields=company, columns=where,
    )


def column_of(values: RowValues, field_name: str) -> str:
    """The file's header of a canonical field (``custom_fields`` -> the first custom column), for error reports."""
    return values.columns.get(field_name, field_name)
