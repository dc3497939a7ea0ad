"""``crm suppressions import FILE.csv``: batches of 500, reasons per row, invalid rows by their CSV line number."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Crm
from tests.cli.fake_api import FakeApi


def _write(tmp_path: Path, text: str, name: str = "odhlaseni.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _big_csv(tmp_path: Path, rows: int, broken: dict[int, str]) -> Path:
    """``rows`` addresses; row n (1-based) is line n + 1, replaced by ``broken[n]`` when given."""
    lines = ["email,name"] + [f"{broken.get(n, f'kontakt{n}@example.cz')},Kontakt {n}" for n in range(1, rows + 1)]
    return _write(tmp_path, "\n".join(lines) + "\n")


def test_1200_rows_go_in_three_batches_and_invalid_rows_are_reported_by_line(
    api: FakeApi, crm: Crm, tmp_path: Path,
) -> None:
    # Given 1,200 addresses, three of them broken (rows 5, 600 and 1,200: lines 6, 601 and 1,201)
    path = _big_csv(tmp_path, 1200, {5: "bez-zavinace.example.cz", 600: "@example.cz", 1200: "nikdo@"})
    # When the file is imported
    result = crm("suppressions", "import", str(path))
    # Then it went in batches of 500, 500 and 200, each row with the default reason and the file as source
    assert result.exit_code == 0, result.output
    calls = api.calls("POST", "/suppressions")
    assert [len(c.body["entries"]) for c in calls] == [500, 500, 200]
    assert calls[0].body["entries"][0] == {"email": "kontakt1@example.cz", "reason": "unsubscribed"}
    assert {c.body["source"] for c in calls} == {"crm import odhlaseni.csv"}
    # And the summary counts and the invalid rows' line numbers are printed
    assert "Přidáno: 1 197, už bylo na seznamu: 0, neplatných řádků: 3." in result.output
    table = result.output[result.output.index("Neplatné řádky"):]
    for line, email in [("6", "bez-zavinace.example.cz"), ("601", "@example.cz"), ("1201", "nikdo@")]:
        row = next(r for r in table.splitlines() if email in r)
        assert row.split("│")[1].strip() == line and "not an e-mail address" in row


def test_a_second_import_counts_already_listed_addresses(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "email\njana@example.cz\npetr@example.cz\n")
    assert crm("suppressions", "import", str(path)).exit_code == 0
    again = crm("suppressions", "import", str(path))
    assert "Přidáno: 0, už bylo na seznamu: 2, neplatných řádků: 0." in again.output


def test_reason_column_overrides_and_czech_excel_csv_is_read(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    # Given a semicolon-separated Windows-1250 export with a reason column (one value unknown, one row without
    # an address, one blank line)
    rows = ["Jméno;E-mail;Reason", "Jana Nováková;jana@example.cz;", "Petr Šťastný;petr@example.cz;bounced", "",
            "Eva;eva@example.cz;spam", "Karel;;"]
    path = _write(tmp_path, "\r\n".join(rows) + "\r\n", encoding="cp1250")
    # When it is imported with "do_not_contact" as the default reason and an explicit source
    result = crm("suppressions", "import", str(path), "--reason", "do_not_contact", "--source", "veletrh 2026")
    # Then the two good rows went with their reasons, the others are reported by line without being sent
    assert result.exit_code == 0, result.output
    (call,) = api.calls("POST", "/suppressions")
    assert call.body == {"entries": [{"email": "jana@example.cz", "reason": "do_not_contact"},
                                     {"email": "petr@example.cz", "reason": "bounced"}], "source": "veletrh 2026"}
    assert "Přidáno: 2, už bylo na seznamu: 0, neplatných řádků: 2." in result.output
    table = result.output[result.output.index("Neplatné řádky"):]
    assert next(r for r in table.splitlines() if "eva@example.cz" in r).split("│")[1].strip() == "5"
    assert "unknown reason 'spam'" in table
    assert next(r for r in table.splitlines() if "missing e-mail" in r).split("│")[1].strip() == "6"


def test_a_batch_the_api_refuses_as_a_whole_counts_as_invalid_rows(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    # Given an API that refuses the second of two batches outright
    path = _big_csv(tmp_path, 600, {})
    api.failures[("POST", "/suppressions")] = [(200, {"added": 500, "already": 0, "invalid": []}),
                                               (400, {"message": "no valid address in the list"})]
    # When the file is imported
    result = crm("--json", "suppressions", "import", str(path))
    # Then the import finishes and the refused batch's 100 rows are the invalid ones, lines 502-601
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["added"], data["batches"]) == (500, 1)
    assert [r["line"] for r in data["invalid"]] == list(range(502, 602))
    assert {r["error"] for r in data["invalid"]} == {"no valid address in the list"}


def test_a_failure_midway_says_how_far_it_got(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _big_csv(tmp_path, 1200, {})
    api.failures[("POST", "/suppressions")] = [(200, {"added": 500, "already": 0, "invalid": []}),
                                               (503, {"message": "temporarily unavailable, retry"})]
    result = crm("suppressions", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr == ("Error: The API failed (503): temporarily unavailable, retry (batch 2/3; lines before 502 "
                             "were sent; importing the file again is safe)\n")


def test_a_csv_without_an_email_column_is_refused_before_sending(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "name,phone\nJana,123\n")
    result = crm("suppressions", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path} has no `email` column in its header line (columns: name, phone)\n"
    assert api.requests == []


def test_an_unknown_default_reason_is_a_usage_error(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "email\njana@example.cz\n")
    result = crm("suppressions", "import", str(path), "--reason", "spam")
    assert result.exit_code == 2 and "unsubscribed" in result.output
    assert api.requests == []


def test_json_output_has_totals_and_lines(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "email\njana@example.cz\nrozbity\n")
    result = crm("--json", "suppressions", "import", str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "rows": 2, "batches": 1, "added": 1, "already": 0,
        "invalid": [{"line": 3, "email": "rozbity", "error": "not an e-mail address"}],
    }
