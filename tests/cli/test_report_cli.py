"""``crm report ...`` against the fake API: what is asked, what the marketer reads, what a script gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import report_data
from tests.cli.conftest import Crm
from tests.cli.fake_api import FakeApi


def _row(output: str, label: str) -> list[str]:
    """The cells of the first table row containing ``label`` (rich's box lines split on │, the header's on ┃)."""
    line = next(line.replace("┃", "│") for line in output.splitlines()
                if label in line and ("│" in line or "┃" in line))
    return [cell.strip() for cell in line.split("│")[1:-1]]


def _empty(api: FakeApi) -> None:
    data = report_data.empty_data()
    api.reports = {"loss-reasons": data["loss_reasons"] | {"none": data["loss_reasons"]["industry"]},
                   "retention": data["retention"], "workflows": data["workflows"], "campaigns": data["campaigns"]}


# --- loss reasons ---------------------------------------------------------------------------------------------


def test_loss_reasons_table_in_czech(api: FakeApi, crm: Crm) -> None:
    # When the marketer asks for the first half-year by industry
    result = crm("report", "loss-reasons", "--from", "2026-01", "--to", "2026-06")
    # Then the API got the period and the default segmentation
    assert result.exit_code == 0, result.output
    (call,) = api.calls("GET", "/reports/loss-reasons")
    assert call.query == {"from": "2026-01", "to": "2026-06", "by": "industry"}
    out = result.output
    # And the totals are one sentence with money in Czech notation
    assert "Prohráno 8 (480 000 CZK), vyhráno 4 (90 000 CZK), úspěšnost 33,3 %." in out
    # And every reason is a row: count, share, value; a missing reason is "(neuvedeno)"
    assert _row(out, "Cena ") == ["Cena", "3", "37,5 %", "150 000 CZK"]
    assert _row(out, "Konkurence ") == ["Konkurence", "2", "25,0 %", "200 000 CZK"]
    assert _row(out, "(neuvedeno) ")[1:] == ["2", "25,0 %", "90 000 CZK"]
    # And each industry shows lost, won, win rate, lost value and its reasons with shares
    assert "Podle segmentu: obor" in out
    strojirenstvi = _row(out, "Strojírenství")
    assert strojirenstvi[:5] == ["Strojírenství", "5", "1", "16,7 %", "330 000 CZK"]
    assert "Cena  2 · 40,0 %" in strojirenstvi[5]


def test_loss_reasons_by_owner_in_english(api: FakeApi, crm: Crm) -> None:
    # When the report is segmented by owner
    result = crm("--lang", "en", "report", "loss-reasons", "--by", "owner")
    # Then the segment travels as the query parameter
    assert result.exit_code == 0, result.output
    (call,) = api.calls("GET", "/reports/loss-reasons")
    assert call.query == {"by": "owner"}
    # And the English table uses English number notation and "(not given)"
    out = result.output
    assert "Lost 8 (480,000 CZK), won 4 (90,000 CZK), win rate 33.3%." in out
    assert _row(out, "Cena ") == ["Cena", "3", "37.5%", "150,000 CZK"]
    assert _row(out, "pdvorak")[:5] == ["pdvorak", "3", "3", "50.0%", "250,000 CZK"]
    assert "By segment: owner" in out
    assert "(not given)  2 · 40.0%" in out


def test_loss_reasons_json_is_the_api_answer(api: FakeApi, crm: Crm) -> None:
    result = crm("--json", "report", "loss-reasons", "--by", "product")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == report_data.loss_reasons("product")


def test_loss_reasons_without_segments(api: FakeApi, crm: Crm) -> None:
    result = crm("report", "loss-reasons", "--by", "none")
    assert result.exit_code == 0, result.output
    assert "Důvody prohry" in result.output and "Podle segmentu" not in result.output


def test_an_api_rejection_is_one_line_and_exit_1(api: FakeApi, crm: Crm) -> None:
    # When the period is the wrong way round (the API checks it)
    result = crm("report", "loss-reasons", "--from", "2026-06", "--to", "2026-01")
    # Then the API's message is shown as is, nothing on stdout
    assert result.exit_code == 1
    assert result.stderr == "Error: 400: from 2026-06 is after to 2026-01\n"
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["loss-reasons", "--from", "2026-13"], ["workflows", "--to", "26-01"],
                                  ["campaigns", "--from", "2026-1"], ["retention", "--period", "2026-Q5"],
                                  ["loss-reasons", "--by", "city"]])
def test_a_malformed_option_is_a_usage_error_before_any_request(api: FakeApi, crm: Crm, args: list[str]) -> None:
    result = crm("report", *args)
    assert result.exit_code == 2
    assert api.calls("GET") == []


def test_connection_refused_is_reported(crm: Crm) -> None:
    result = crm("report", "workflows", api_url="http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "Cannot reach the API at http://127.0.0.1:9" in result.stderr


# --- retention ------------------------------------------------------------------------------------------------


def test_retention_figures_and_groups(api: FakeApi, crm: Crm) -> None:
    result = crm("report", "retention", "--period", "2026-q2")
    assert result.exit_code == 0, result.output
    (call,) = api.calls("GET", "/reports/retention")
    assert call.query == {"period": "2026-Q2"}
    out = result.output
    assert "Věrnost zákazníků  2026 (2026-01-01 – 2026-12-31)" in out
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "Vracející se zákazníci (2+ objednávky) 4 40,0 %" in lines
    assert "Věrní zákazníci (3+ objednávky) 2 20,0 %" in lines
    assert "Tržby 14 345 CZK" in lines
    assert "Průměrná objednávka: jednorázoví 500 CZK" in lines
    assert "Průměrná objednávka: vracející se 597,11 CZK" in lines
    assert "Průměrný odstup nákupů (dny) 23,5" in lines
    assert _row(out, "10+") == ["10+", "1", "10,0 %", "12", "6 845 CZK", "47,7 %"]
    assert _row(out, " 1 │")[:3] == ["1", "6", "60,0 %"]


def test_retention_all_and_json(api: FakeApi, crm: Crm) -> None:
    result = crm("--json", "report", "retention", "--period", "ALL")
    assert result.exit_code == 0, result.output
    assert api.calls("GET", "/reports/retention")[0].query == {"period": "all"}
    assert json.loads(result.output) == report_data.RETENTION


# --- workflows ------------------------------------------------------------------------------------------------


def test_workflows_one_column_per_workflow(api: FakeApi, crm: Crm) -> None:
    result = crm("report", "workflows", "--from", "2026-01", "--to", "2026-06")
    assert result.exit_code == 0, result.output
    assert api.calls("GET", "/reports/workflows")[0].query == {"from": "2026-01", "to": "2026-06"}
    out = result.output
    header = _row(out, "Neaktivní kontakty")
    assert header[1:] == ["Neaktivní kontakty", "Eskalace nespokojenosti", "Reaktivace obchodů", "Kvalifikace leadů"]
    assert _row(out, "Zařazené kontakty") == ["Zařazené kontakty", "5", "2", "4", "7"]
    assert _row(out, "Úkoly vytvořené") == ["Úkoly vytvořené", "6", "2", "3", "7"]
    assert _row(out, "Úkoly splněné") == ["· Úkoly splněné", "2", "1", "1", "5"]  # under "created"
    # a figure that does not apply to a workflow is "–", money with the currency
    assert _row(out, "Odeslané e-maily") == ["Odeslané e-maily", "3", "–", "3", "–"]
    assert _row(out, "Hodnota nových obchodů") == ["Hodnota nových obchodů", "10 000 CZK", "–", "45 000 CZK", "–"]
    assert _row(out, "Vyhrané obchody") == ["Vyhrané obchody", "–", "–", "1", "–"]


def test_workflows_json(api: FakeApi, crm: Crm) -> None:
    result = crm("--json", "report", "workflows")
    assert result.exit_code == 0
    assert json.loads(result.output) == report_data.WORKFLOWS


# --- campaigns ------------------------------------------------------------------------------------------------


def test_campaigns_counts_rates_and_suppressions(api: FakeApi, crm: Crm) -> None:
    result = crm("--lang", "en", "report", "campaigns", "--from", "2026-01")
    assert result.exit_code == 0, result.output
    assert api.calls("GET", "/reports/campaigns")[0].query == {"from": "2026-01"}
    out = result.output
    lines = out.splitlines()
    # counts on the campaign's first line, rates (of delivered / of sent) right under them
    first = next(n for n, line in enumerate(lines) if "Jarní novinky" in line)
    assert _row(out, "Jarní novinky") == ["Jarní novinky", "completed", "120", "100", "98", "40", "12", "2", "1",
                                          "3", "15"]
    assert [c.strip() for c in lines[first + 1].split("│")[1:-1]] == [
        "cmp-b", "", "", "", "98.0%", "40.8%", "12.2%", "2.0%", "1.0%", "3.1%", ""]
    # a draft that sent nothing has no rates
    draft = next(n for n, line in enumerate(lines) if "Letní akce" in line)
    assert lines[draft + 1].count("–") == 6
    assert _row(out, "Total")[2:] == ["180", "150", "146", "70", "21", "4", "1", "4", "25"]
    # suppressed by reason, in the product's wording, most first
    assert _row(out, "unsubscribed ") == ["unsubscribed", "11"]
    assert _row(out, "no marketing consent") == ["no marketing consent", "10"]


def test_campaigns_json(api: FakeApi, crm: Crm) -> None:
    result = crm("--json", "report", "campaigns")
    assert result.exit_code == 0
    assert json.loads(result.output) == report_data.CAMPAIGNS


# --- empty period ---------------------------------------------------------------------------------------------


def test_an_empty_period_says_so(api: FakeApi, crm: Crm) -> None:
    _empty(api)
    outputs = {name: crm("report", name) for name in ("loss-reasons", "retention", "workflows", "campaigns")}
    assert all(r.exit_code == 0 for r in outputs.values()), {k: r.output for k, r in outputs.items()}
    assert "V tomto období nejsou žádné prohrané obchody." in outputs["loss-reasons"].output
    assert "úspěšnost –" in outputs["loss-reasons"].output
    assert "V tomto období nejsou žádné nákupy." in outputs["retention"].output
    assert "V tomto období nebyly vytvořeny žádné kampaně." in outputs["campaigns"].output
    assert _row(outputs["workflows"].output, "Zařazené kontakty") == ["Zařazené kontakty", "0", "0", "0", "0"]


# --- html -----------------------------------------------------------------------------------------------------


def test_html_fetches_every_report_and_writes_one_file(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "report.html"
    result = crm("report", "html", "--from", "2026-01", "--to", "2026-06", "--period", "2026", "--out", str(out),
                 "--lang", "en")
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == f"Report written: {out}"
    by = sorted(c.query["by"] for c in api.calls("GET", "/reports/loss-reasons"))
    assert by == ["industry", "owner", "product"]
    assert all(c.query.get("from") == "2026-01" and c.query.get("to") == "2026-06"
               for c in api.calls("GET") if c.path != "/reports/retention")
    assert api.calls("GET", "/reports/retention")[0].query == {"period": "2026"}
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Marketing and sales report" in html
    assert api.url in html  # the source


def test_html_report_failure_writes_nothing(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = crm("report", "html", "--from", "2026-06", "--to", "2026-01", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == "Error: 400: from 2026-06 is after to 2026-01\n"
    assert not out.exists()
