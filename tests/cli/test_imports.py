"""``crm import contacts FILE.csv``: parts of whole rows with the file's line numbers, the report by line, exit codes
(0 handled, 1 some rows invalid, 2 usage or API errors); against the fake API and, once, the emulated template."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from crm_cli.app import app
from crm_local import LocalCloud
from tests.cli.conftest import ENV, Crm
from tests.cli.fake_api import FakeApi

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "infra" / "crm_local" / "sample_import.csv"
HEADER = "email;jméno;souhlas;souhlas_kdy;custom.poznámka"


def _write(tmp_path: Path, text: str, name: str = "kontakty.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _rows(lines: list[str]) -> dict[str, list[str]]:
    """The table rows of the output by line number (first cell)."""
    found: dict[str, list[str]] = {}
    for text in lines:
        cells = [c.strip() for c in text.split("│")[1:-1]]
        if cells and cells[0].isdigit():
            found[cells[0]] = cells
    return found


def given_the_fair_crm(api: FakeApi) -> None:
    api.imported["jana.novakova@example.cz"] = "story-email"
    api.suppressed.update({"karolina.bartosova@example.cz": "erased", "zdenek.kolar@example.cz": "unsubscribed"})


def test_the_sample_file_is_reported_by_line_with_exit_code_1_for_its_invalid_rows(api: FakeApi, crm: Crm) -> None:
    # Given the CRM knows Jana and holds two suppressed addresses
    given_the_fair_crm(api)
    # When the sample fair list is imported
    result = crm("import", "contacts", str(SAMPLE), "--source", "veletrh-brno-2026.csv")
    # Then it went in one request with the file's own text and options
    assert result.exit_code == 1, result.output
    (call,) = api.calls("POST", "/imports/contacts")
    assert call.query == {"source": "veletrh-brno-2026.csv", "require_consent": "true", "dry_run": "false",
                          "first_line": "2"}
    assert call.headers["content-type"] == "text/csv; charset=utf-8"
    # And the counts are printed for every outcome
    out = result.output
    for label, count in [("Vytvořeno", 2), ("Aktualizováno", 2), ("Beze změny (už importováno)", 0),
                         ("Vynecháno: adresa je potlačená", 2), ("Vynecháno: bez souhlasu", 1),
                         ("Neplatné řádky", 3)]:
        assert any(label in r and r.rstrip(" │").endswith(str(count)) for r in out.splitlines()), (label, out)
    # And every row to look at is listed by its physical line (the note on line 2 spans two lines)
    rows = _rows(out[out.index("Řádky k pozornosti"):].splitlines())
    assert set(rows) == {"6", "7", "8", "9", "10", "11", "12"}
    assert rows["6"][1:3] == ["karolina.bartosova@example.cz", "potlačená adresa"]
    assert "Vymazán (GDPR)" in rows["6"][4] or "vymazán" in rows["6"][4].lower()
    assert rows["8"][2] == "bez souhlasu"
    assert rows["9"][1:3] == ["pavel.horak@seznam", "neplatný"]
    assert rows["10"][3] == "Souhlas kdy" and "not a date" in rows["10"][4]
    assert rows["12"][2] == "aktualizován" and "řádek 2" in rows["12"][4]


def test_a_big_file_goes_in_parts_of_whole_rows_keeping_line_numbers(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    # Given 1,200 consented rows whose notes span two lines every 100th row, and a blank line in the middle
    lines = [HEADER]
    for n in range(1, 1201):
        note = '"první\ndruhý"' if n % 100 == 0 else "poznámka"
        lines.append(f"k{n}@example.cz;Kontakt {n};ano;2026-01-01;{note}")
        if n == 700:
            lines.append("")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    # When it is imported with the default part size
    result = crm("--json", "import", "contacts", str(path))
    # Then it went as 500 + 500 + 200 rows, each part with the header and the file line of its first row
    assert result.exit_code == 0, result.output
    calls = api.calls("POST", "/imports/contacts")
    assert [c.raw_body.decode().count("@example.cz") for c in calls] == [500, 500, 200]
    assert all(c.raw_body.decode().startswith(HEADER + "\n") for c in calls)
    # row n starts on line n + 1 + (the multi-line notes before it) + (the blank line, after row 700)
    def line_of(n: int) -> int:
        return n + 1 + (n - 1) // 100 + (1 if n > 700 else 0)
    assert [c.query["first_line"] for c in calls] == [str(line_of(1)), str(line_of(501)), str(line_of(1001))]
    report = json.loads(result.stdout)
    assert report["counts"]["created"] == 1200 and report["requests"] == 3 and report["entries"] == []
    assert len(api.imported) == 1200


def test_a_part_the_api_could_not_finish_is_sent_again_from_next_line(api: FakeApi, crm: Crm,
                                                                      tmp_path: Path) -> None:
    # Given an API that handles at most 300 rows per request
    api.import_rows_per_answer = 300
    path = _write(tmp_path, "\n".join([HEADER] + [f"k{n}@example.cz;K;ano;2026-01-01;" for n in range(1, 801)])
                  + "\n")
    # When 800 rows are imported in parts of 500
    result = crm("--json", "import", "contacts", str(path))
    # Then each part's rest followed from where the API stopped, and no row was lost or repeated
    assert result.exit_code == 0, result.output
    assert [c.query["first_line"] for c in api.calls("POST", "/imports/contacts")] == ["2", "302", "602"]
    assert json.loads(result.stdout)["counts"]["created"] == 800 and len(api.imported) == 800


def test_a_duplicate_across_parts_is_reported_and_a_dry_run_counts_it_as_an_update(
    api: FakeApi, crm: Crm, tmp_path: Path,
) -> None:
    path = _write(tmp_path, f"{HEADER}\nJana@example.cz;Jana;ano;2026-01-01;\njana@EXAMPLE.cz;Jana;ano;2026-01-02;\n")
    result = crm("--json", "import", "contacts", str(path), "--dry-run", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["counts"]["created"], report["counts"]["updated"], report["dry_run"]) == (1, 1, True)
    assert report["entries"] == [{"line": 3, "outcome": "updated", "duplicate_of": 2, "email": "jana@EXAMPLE.cz",
                                  "reason": "the same address as line 2: this row updates that contact"}]
    assert api.imported == {} and {c.query["dry_run"] for c in api.calls()} == {"true"}


def test_a_second_run_is_unchanged_and_exits_0(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\njana@example.cz;Jana;ano;2026-01-01;\n")
    assert crm("import", "contacts", str(path)).exit_code == 0
    again = crm("import", "contacts", str(path))
    assert again.exit_code == 0
    assert any("Beze změny (už importováno)" in r and r.rstrip(" │").endswith("1") for r in again.output.splitlines())


def test_options_reach_the_api_and_english_labels(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "email;jméno\njana@example.cz;Jana\n")
    result = crm("--lang", "en", "import", "contacts", str(path), "--source", "migrace", "--owner", "martin.kral",
                 "--allow-without-consent")
    assert result.exit_code == 0, result.output
    (call,) = api.calls("POST", "/imports/contacts")
    assert call.query == {"source": "migrace", "owner": "martin.kral", "require_consent": "false",
                          "dry_run": "false", "first_line": "2"}
    assert "Contact import \"migrace\"" in result.output and "Created" in result.output


def test_a_windows_1250_export_is_sent_as_utf8(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "E-mail;Jméno;Souhlas;Souhlas kdy\r\nsarka@example.cz;Šárka;ano;1. 3. 2026\r\n",
                  encoding="cp1250")
    result = crm("import", "contacts", str(path))
    assert result.exit_code == 0, result.output
    (call,) = api.calls("POST", "/imports/contacts")
    assert "Šárka" in call.raw_body.decode("utf-8")
    assert "Windows-1250" in result.stderr


def test_an_api_failure_midway_exits_2_saying_how_far_it_got(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    path = _write(tmp_path, "\n".join([HEADER] + [f"k{n}@example.cz;K;ano;2026-01-01;" for n in range(1, 1201)]))
    api.failures[("POST", "/imports/contacts")] = [
        (200, {"complete": True, "counts": {"created": 500}, "entries": [], "contact_ids": {}}),
        (503, {"message": "temporarily unavailable, retry"})]
    result = crm("import", "contacts", str(path))
    assert result.exit_code == 2
    assert result.stderr == ("Error: The API failed (503): temporarily unavailable, retry (at line 502; lines before "
                             "502 were imported; importing the file again is safe)\n")


def test_usage_and_connection_errors_exit_2_before_anything_is_sent(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    unknown = _write(tmp_path, "email;barva\na@example.cz;modrá\n", name="barvy.csv")
    result = crm("import", "contacts", str(unknown))
    assert result.exit_code == 2 and "unknown column(s) 'barva'" in result.stderr
    empty = _write(tmp_path, "email;jméno\n", name="prazdny.csv")
    assert crm("import", "contacts", str(empty)).exit_code == 2
    assert crm("import", "contacts", str(tmp_path / "chybi.csv")).exit_code == 2
    assert crm("import", "contacts", str(unknown), "--owner", "špatný vlastník").exit_code == 2
    assert api.requests == []
    unreachable = crm("import", "contacts", str(empty.with_name("x.csv")), api_url="http://127.0.0.1:9")
    assert unreachable.exit_code == 2


def test_invalid_rows_alone_exit_1_and_json_lists_them_with_the_email(api: FakeApi, crm: Crm,
                                                                      tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\nbez-zavinace;Petr;ano;2026-01-01;\n")
    result = crm("--json", "import", "contacts", str(path))
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry == {"line": 2, "outcome": "invalid", "reason": "not an e-mail address", "column": "email",
                     "email": "bez-zavinace"}


def test_the_sample_file_on_the_emulated_api(tmp_path: Path) -> None:
    # Given the emulated API with Jana as a contact, an erased and an unsubscribed address
    with LocalCloud(template=str(ROOT / "template.yaml"), start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                    out_dir=tmp_path / "out", quiet=True, http_port=0) as cloud:
        assert cloud.http("POST", "/contacts", json={
            "contact_id": "story-email", "first_name": "Jana", "last_name": "Nováková",
            "email": "jana.novakova@example.cz", "owner": "petr.svoboda"}).status == 201
        assert cloud.http("POST", "/suppressions", json={"source": "old-crm", "entries": [
            {"email": "karolina.bartosova@example.cz", "reason": "erased"},
            {"email": "zdenek.kolar@example.cz", "reason": "unsubscribed"}]}).status == 200
        runner = CliRunner(env=ENV)

        def crm(*args: str):
            return runner.invoke(app, ["--api", cloud.http_url, "--token", cloud.token, *args])

        # When the marketer imports the sample list through the CLI, twice
        first = crm("--json", "import", "contacts", str(SAMPLE), "--source", "veletrh-brno-2026.csv")
        second = crm("import", "contacts", str(SAMPLE), "--source", "veletrh-brno-2026.csv")
        jana = cloud.http("GET", "/contacts/story-email").json()["contact"]

    # Then the first run reports every outcome by line and exits 1 for its invalid rows
    assert first.exit_code == 1, first.output
    report = json.loads(first.stdout)
    assert report["counts"] == {"created": 2, "updated": 2, "unchanged": 0, "skipped_suppressed": 2,
                                "skipped_no_consent": 1, "invalid": 3}
    assert {e["line"]: e["outcome"] for e in report["entries"]} == {
        6: "skipped_suppressed", 7: "skipped_suppressed", 8: "skipped_no_consent", 9: "invalid", 10: "invalid",
        11: "invalid", 12: "updated"}
    # And Jana (another letter case in the file) got her consent from the list
    assert jana["marketing_consent"]["granted"] is True and "Veletrh Brno 2026" in jana["tags"]
    # And the second run changed nothing
    assert second.exit_code == 1, second.output
    assert any("Beze změny (už importováno)" in r and r.rstrip(" │").endswith("4") for r in second.output.splitlines())
