"""Reading a contact list CSV: separators, BOM, quoted multi-line fields, Czech/English header aliases, physical line
numbers, consent per row (domain.contact_import, pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_automation.domain.contact_import import (
    ConsentStatement,
    CsvProblem,
    RowProblem,
    RowValues,
    decode,
    interpret,
    parse,
    parse_consent_at,
)

PRAGUE = ZoneInfo("Europe/Prague")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rows_of(text: str, first_line: int = 2) -> list[RowValues | RowProblem]:
    contact_csv = parse(text, first_line=first_line)
    return [interpret(contact_csv, row, now=NOW, zone=PRAGUE) for row in contact_csv.rows]


def test_czech_excel_export_semicolons_bom_and_czech_headers() -> None:
    # Given a Czech Excel "CSV UTF-8" export: BOM, semicolons, CRLF, Czech column names with accents
    raw = ("\ufeffE-mail;Jméno;Příjmení;Firma;Telefon;Vlastník;Štítky;Souhlas;Souhlas kdy;Verze textu;"
           "Zdroj souhlasu\r\n"
           "jana@example.cz;Jana;Nováková;Pekárna, s.r.o.;+420 601 111 222;jana.dvorakova;Veletrh | VIP ;ano;"
           "1. 3. 2025 10:15;souhlas-2025-01;papírový formulář\r\n").encode("utf-8")
    # When it is decoded and read
    (row,) = rows_of(decode(raw))
    # Then every column is understood, the tags are split, the consent is local time converted to UTC
    assert isinstance(row, RowValues)
    assert (row.line, row.email, row.first_name, row.last_name, row.company, row.phone, row.owner) == (
        2, "jana@example.cz", "Jana", "Nováková", "Pekárna, s.r.o.", "+420 601 111 222", "jana.dvorakova")
    assert row.tags == ("Veletrh", "VIP")
    assert row.consent == ConsentStatement(granted=True, at=datetime(2025, 3, 1, 9, 15, tzinfo=UTC),
                                           text_version="souhlas-2025-01", source="papírový formulář")


def test_comma_separated_english_headers_without_bom() -> None:
    text = "email,first_name,last_name,consent,consent_at\npetr@example.cz,Petr,Svoboda,yes,2025-03-01T10:15:00Z\n"
    (row,) = rows_of(text)
    assert isinstance(row, RowValues) and row.last_name == "Svoboda"
    assert row.consent is not None and row.consent.at == datetime(2025, 3, 1, 10, 15, tzinfo=UTC)


def test_tab_separated_is_recognised() -> None:
    (row,) = rows_of("email\tjmeno\njana@example.cz\tJana\n")
    assert isinstance(row, RowValues) and row.first_name == "Jana"


def test_quoted_multiline_fields_keep_physical_line_numbers() -> None:
    # Given a row whose quoted note spans three lines, a blank line, and a quoted separator and doubled quote
    text = ('email;custom.poznámka;firma\n'
            'a@example.cz;"první řádek\ndruhý řádek\ntřetí";A\n'
            '\n'
            'b@example.cz;"středník ; a ""uvozovky""";B\n')
    # When read
    first, second = rows_of(text)
    # Then the second row is on line 6 (2 + three lines of the note + the blank line), the note kept whole
    assert isinstance(first, RowValues) and isinstance(second, RowValues)
    assert (first.line, second.line) == (2, 6)
    assert first.custom_fields == {"poznámka": "první řádek\ndruhý řádek\ntřetí"}
    assert second.custom_fields == {"poznámka": 'středník ; a "uvozovky"'} and second.company == "B"


def test_first_line_shifts_the_numbers_of_a_part_of_a_bigger_file() -> None:
    rows = rows_of("email\na@example.cz\nb@example.cz\n", first_line=502)
    assert [r.line for r in rows] == [502, 503]


def test_custom_and_company_field_columns_in_both_languages() -> None:
    (row,) = rows_of("email;custom.zdroj;vlastni.velikost trička;company.obor;firma.zaměstnanci\n"
                     "a@example.cz;veletrh;XL;Strojírenství;120\n")
    assert isinstance(row, RowValues)
    assert row.custom_fields == {"zdroj": "veletrh", "velikost trička": "XL"}
    assert row.company_fields == {"obor": "Strojírenství", "zaměstnanci": "120"}


@pytest.mark.parametrize("answer", ["", "ne", "NE", "no", "false", "0", "n"])
def test_a_row_without_a_yes_grants_no_consent(answer: str) -> None:
    (row,) = rows_of(f"email;souhlas;souhlas_kdy\na@example.cz;{answer};2025-03-01\n")
    assert isinstance(row, RowValues) and row.consent is None


def test_no_consent_column_at_all_grants_no_consent() -> None:
    (row,) = rows_of("email;jméno\na@example.cz;Jana\n")
    assert isinstance(row, RowValues) and row.consent is None


@pytest.mark.parametrize("answer", ["ano", "Ano", "yes", "TRUE", "1", "a", "x"])
def test_yes_answers(answer: str) -> None:
    (row,) = rows_of(f"email;souhlas;souhlas_kdy\na@example.cz;{answer};2025-03-01\n")
    assert isinstance(row, RowValues) and row.consent is not None and row.consent.granted


@pytest.mark.parametrize(("consent", "when", "column", "message"), [
    ("ano", "", "souhlas_kdy", "needs the time it was given"),
    ("ano", "včera", "souhlas_kdy", "is not a date"),
    ("ano", "31. 2. 2025", "souhlas_kdy", "is not a date"),
    ("ano", "2027-01-01", "souhlas_kdy", "in the future"),
    ("ano", "0. 1. 1900", "souhlas_kdy", "is not a date"),
    ("ano", "1. 1. 1900", "souhlas_kdy", "before 1990"),
    ("možná", "2025-03-01", "souhlas", "not a yes/no answer"),
])
def test_a_consent_without_proof_is_an_invalid_row(consent: str, when: str, column: str, message: str) -> None:
    (row,) = rows_of(f"email;souhlas;souhlas_kdy\na@example.cz;{consent};{when}\n")
    assert isinstance(row, RowProblem)
    assert (row.line, row.column) == (2, column) and message in row.message


def test_a_consent_stated_without_a_date_column_names_the_column_to_add() -> None:
    (row,) = rows_of("email;souhlas\na@example.cz;ano\n")
    assert isinstance(row, RowProblem) and row.column == "consent_at"


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-03-01", datetime(2025, 2, 28, 23, 0, tzinfo=UTC)),
    ("2025-07-01 10:15", datetime(2025, 7, 1, 8, 15, tzinfo=UTC)),
    ("2025-03-01T10:15:00Z", datetime(2025, 3, 1, 10, 15, tzinfo=UTC)),
    ("2025-03-01T10:15:00+02:00", datetime(2025, 3, 1, 8, 15, tzinfo=UTC)),
    ("1.3.2025", datetime(2025, 2, 28, 23, 0, tzinfo=UTC)),
    ("01. 07. 2025 10:15:30", datetime(2025, 7, 1, 8, 15, 30, tzinfo=UTC)),
])
def test_consent_dates_as_spreadsheets_write_them(text: str, expected: datetime) -> None:
    assert parse_consent_at(text, PRAGUE) == expected


def test_row_problems_name_line_and_column() -> None:
    rows = rows_of("email;jméno\n;Jana\na@example.cz;Ja\x01na\nb@example.cz;Jana;navíc\n")
    assert [(r.line, r.column) for r in rows if isinstance(r, RowProblem)] == [(2, "email"), (3, "jméno"), (4, None)]
    assert "missing e-mail" in rows[0].message and "3 fields" in rows[2].message  # type: ignore[union-attr]


def test_a_short_row_leaves_the_missing_cells_empty() -> None:
    (row,) = rows_of("email;jméno;příjmení\na@example.cz;Jana\n")
    assert isinstance(row, RowValues) and row.first_name == "Jana" and row.last_name is None


def test_an_unnamed_trailing_column_is_allowed_while_empty() -> None:
    first, second = rows_of("email;jméno;\na@example.cz;Jana;\nb@example.cz;Petr;něco\n")
    assert isinstance(first, RowValues) and isinstance(second, RowProblem)


@pytest.mark.parametrize(("text", "message"), [
    ("", "the body is empty"),
    ("\n\n", "line 1 is empty"),
    ("jméno;příjmení\nJana;Nováková\n", "no e-mail column"),
    ("email;jmeno;barva\na@example.cz;Jana;modrá\n", "unknown column(s) 'barva'"),
    ("email;e-mail\na@example.cz;b@example.cz\n", "mean the same field"),
    ('email;jméno\na@example.cz;"neuzavřeno\nb@example.cz;Petr\n', "line 2: the row cannot be read as CSV"),
])
def test_what_makes_the_whole_file_unreadable(text: str, message: str) -> None:
    with pytest.raises(CsvProblem) as raised:
        parse(text)
    assert message in str(raised.value) and not raised.value.too_large


def test_too_many_rows_and_too_many_bytes_are_too_large() -> None:
    with pytest.raises(CsvProblem) as rows:
        parse("email\n" + "a@example.cz\n" * 4, max_rows=3)
    with pytest.raises(CsvProblem) as size:
        decode(b"email\n" + b"a@example.cz\n" * 10, max_bytes=50)
    assert rows.value.too_large and size.value.too_large


def test_non_utf8_names_the_byte_and_line() -> None:
    raw = "email;jméno\na@example.cz;Šárka\n".encode("cp1250")
    with pytest.raises(CsvProblem) as raised:
        decode(raw)
    assert "not UTF-8: byte 0xE9 at line 1" in str(raised.value)


# --- round trip ------------------------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff"),
                max_size=30).map(str.strip)
_note = st.lists(_text | st.sampled_from(["\n", "\r\n", ";", ",", '"']), max_size=6).map("".join).map(str.strip)
_row = st.fixed_dictionaries({
    "email": st.from_regex(r"[a-z]{1,8}(\+[a-z]{1,4})?@[a-z]{2,8}\.cz", fullmatch=True),
    "first_name": _text, "last_name": _text, "company": _text,
    "tags": st.lists(_text.filter(lambda t: t and "|" not in t), max_size=3, unique=True),
    "consent": st.booleans(),
    "note": _note,
})


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=8), delimiter=st.sampled_from([";", ","]),
       bom=st.booleans(), crlf=st.booleans())
def test_generated_rows_round_trip_through_csv_with_their_line_numbers(
    rows: list[dict], delimiter: str, bom: bool, crlf: bool,
) -> None:
    # Given rows written by Python's csv module as a spreadsheet would (any separator, BOM, line ending)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["E-mail", "Jméno", "Příjmení", "Firma", "Štítky", "Souhlas", "Souhlas kdy", "custom.poznámka"])
    expected_lines = []
    line = 2
    for row in rows:
        expected_lines.append(line)
        cells = [row["email"], row["first_name"], row["last_name"], row["company"], "|".join(row["tags"]),
                 "ano" if row["consent"] else "ne", "2025-03-01 10:00", row["note"]]
        writer.writerow(cells)
        line += 1 + sum(cell.count("\n") for cell in cells)  # a line break inside a quoted field is a line
    raw = (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")
    # When it is decoded and read
    read = rows_of(decode(raw))
    # Then every row comes back as written, on its physical line
    assert all(isinstance(r, RowValues) for r in read), read
    assert [r.line for r in read] == expected_lines
    for row, got in zip(rows, read, strict=True):
        assert isinstance(got, RowValues)
        assert (got.email, got.first_name or "", got.last_name or "", got.company or "") == (
            row["email"], row["first_name"], row["last_name"], row["company"])
        assert list(got.tags) == row["tags"]
        assert got.custom_fields == ({"poznámka": row["note"]} if row["note"] else {})
        assert (got.consent is not None) == row["consent"]


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: ("email;jméno;souhlas;souhlas_kdy\n" + t)
                                                               .encode("utf-8", "surrogatepass")))
def test_any_bytes_are_read_or_refused_with_a_csv_problem(raw: bytes) -> None:
    # Given any body at all, When it is read, Then it is rows (each a value or a problem) or one CsvProblem
    try:
        rows_of(decode(raw))
    except CsvProblem:
        pass



def test_a_row_that_ends_before_the_email_column_is_invalid_not_a_crash() -> None:
    # Given a header whose e-mail column comes last, and a row that stops before it
    text = "Jméno;Příjmení;E-mail\nJana;Nováková\n"
    # When / Then: the row is reported, by its line
    (problem,) = rows_of(text)
    assert isinstance(problem, RowProblem) and problem.line == 2 and "e-mail" in problem.message
