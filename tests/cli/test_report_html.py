"""The HTML report (crm_cli.report_html) from hand-made data: figures, bar geometry, escaping, empty periods."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import crm_cli
from crm_cli.report_html import TEMPLATE, TEMPLATE_DIR, render_report, write_report
from tests.cli import report_data

ROOT = Path(__file__).resolve().parents[2]
GENERATED = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
SOURCE = "http://127.0.0.1:3000"


def render(data: dict[str, Any] | None = None, locale: str = "cs") -> str:
    return render_report(data or report_data.report_data(), locale=locale, generated_at=GENERATED, source=SOURCE)


class Page(HTMLParser):
    """The data tables (rows of cell texts, NBSP as a space), the SVG charts and their bars (attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.charts: dict[str, dict[str, Any]] = {}
        self._chart: dict[str, Any] | None = None
        self._cell: list[str] | None = None
        self._text_into: str | None = None
        self.texts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
        elif tag == "svg":
            self._chart = {"attrs": a, "bars": [], "title": "", "desc": "", "texts": []}
            self.charts[a.get("id", "")] = self._chart
        elif self._chart is not None and tag == "rect" and "bar" in a.get("class", "").split():
            self._chart["bars"].append(a)
        elif self._chart is not None and tag in ("title", "desc") and not self._chart[tag]:
            self._text_into = tag
        elif self._chart is not None and tag == "text":
            self._text_into = "texts"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).replace("\u00a0", " ").split()))
            self._cell = None
        elif tag == "svg":
            self._chart = None
        elif tag in ("title", "desc", "text"):
            self._text_into = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._chart is not None and self._text_into:
            if self._text_into == "texts":
                self._chart["texts"].append(data.replace("\u00a0", " "))
            else:
                self._chart[self._text_into] += data


def table_with(page: Page, header: str) -> list[list[str]]:
    return next(table for table in page.tables if table and header in table[0])


def html_text(html: str) -> str:
    return " ".join(Page(html).texts)


def widths(chart: dict[str, Any]) -> list[float]:
    return [float(bar["width"]) for bar in chart["bars"]]


# --- figures --------------------------------------------------------------------------------------------------


def test_header_says_what_when_and_where_from() -> None:
    page = Page(render())
    text = " ".join(" ".join(page.texts).replace("\u00a0", " ").split())
    assert "Report marketingu a obchodu" in text
    assert "Období: 2026-01 – 2026-06" in text
    assert "Vytvořeno: 2026-06-30 14:00 CEST" in text  # generated_at in Prague time
    assert f"Zdroj dat: {SOURCE}" in text


def test_loss_reasons_chart_and_table() -> None:
    page = Page(render())
    chart = page.charts["chart-loss-reasons"]
    # one bar per reason, lengths proportional to the lost counts 3 : 2 : 2 : 1
    w = widths(chart)
    assert len(w) == 4
    assert [round(x / w[0], 3) for x in w] == [1.0, 0.667, 0.667, 0.333]
    assert "3 · 37,5 % · 150 000 CZK" in chart["texts"]
    assert "(neuvedeno)" in chart["texts"]
    assert table_with(page, "Důvod") == [
        ["Důvod", "Prohráno", "Podíl", "Hodnota"],
        ["Cena", "3", "37,5 %", "150 000 CZK"],
        ["Konkurence", "2", "25,0 %", "200 000 CZK"],
        ["(neuvedeno)", "2", "25,0 %", "90 000 CZK"],
        ["Načasování", "1", "12,5 %", "40 000 CZK"],
        ["Celkem", "8", "100,0 %", "480 000 CZK"],
    ]


def test_stacked_bars_per_segment_split_each_row_by_reason() -> None:
    page = Page(render(locale="en"))
    chart = page.charts["chart-loss-industry"]
    # Strojírenství 2 : 2 : 1 (Cena, Konkurence, not given), Stavebnictví 1 : 1, (not given) 1 — each row 100 %
    w = widths(chart)
    assert len(w) == 6
    full = w[0] + w[1] + w[2]
    assert [round(x / full, 3) for x in w[:3]] == [0.4, 0.4, 0.2]
    assert round(w[3] + w[4], 1) == round(full, 1) and round(w[3] / full, 3) == 0.5
    assert round(w[5], 1) == round(full, 1)
    assert {"40%", "20%", "50%", "100%", "n = 5", "n = 2", "n = 1"} <= set(chart["texts"])
    table = table_with(page, "Industry")
    assert table[0] == ["Industry", "Lost", "Won", "Win rate", "Lost value", "Cena", "Konkurence", "(not given)",
                        "Načasování"]
    assert table[1] == ["Strojírenství", "5", "1", "16.7%", "330,000 CZK", "2 40.0%", "2 40.0%", "1 20.0%", "–"]
    assert table[3][0] == "(not given)"
    assert set(page.charts) >= {"chart-loss-owner", "chart-loss-product"}


def test_retention_kpis_charts_and_groups() -> None:
    html = render()
    page = Page(html)
    text = " ".join(" ".join(page.texts).replace("\u00a0", " ").split())
    for fact in ("Míra retence (3+ objednávky) 20,0 % 2 / 10", "Podíl opakovaných nákupů 40,0 % 4 / 10",
                 "Průměrná objednávka: jednorázoví vs. vracející se jednorázoví: 500 CZK vracející se: 597,11 CZK",
                 "Průměrný odstup nákupů 23,5 dní", "Tržby: 14 345 CZK"):
        assert fact in text
    customers = page.charts["chart-retention-customers"]
    heights = [float(b["height"]) for b in customers["bars"]]
    assert [round(h / heights[0], 3) for h in heights] == [1.0, 0.333, 0.167, 0.167]  # 6 : 2 : 1 : 1
    revenue = page.charts["chart-retention-revenue"]
    assert revenue["title"] == "Tržby podle počtu objednávek (CZK)"
    assert revenue["texts"] == ["3 000", "1", "2 400", "2", "2 100", "3", "6 845", "10+"]
    assert table_with(page, "Počet objednávek")[4] == ["10+", "1", "10,0 %", "12", "6 845 CZK", "47,7 %"]


def test_workflows_grouped_bars_skip_what_does_not_apply() -> None:
    page = Page(render())
    chart = page.charts["chart-workflows"]
    # inactivity 5, 3, 2, 1; escalation 2 (no e-mails, reactions, deals); reactivation 4, 3, 1, 2; lead scoring 7
    assert len(chart["bars"]) == 4 + 1 + 4 + 1
    table = table_with(page, "Automatizace")
    assert table[0] == ["Automatizace", "Neaktivní kontakty", "Eskalace nespokojenosti", "Reaktivace obchodů",
                        "Kvalifikace leadů"]
    assert ["Odeslané e-maily", "3", "–", "3", "–"] in table
    assert ["Hodnota vyhraných obchodů", "–", "–", "25 000 CZK", "–"] in table


def test_campaign_funnels_suppressions_and_rates() -> None:
    page = Page(render(locale="en"))
    # the draft sent nothing: no funnel chart for it, a note instead
    funnels = [c for name, c in page.charts.items() if name.startswith("chart-funnel-")]
    assert [c["title"] for c in funnels] == ["Jarní novinky", "Návrat bývalých zákazníků"]
    assert "Nothing sent yet." in " ".join(page.texts)
    w = widths(funnels[0])
    assert [round(x / w[0], 3) for x in w] == [1.0, 0.98, 0.4, 0.12]  # of 100 sent
    assert "40 · 40.8%" in funnels[0]["texts"]  # the open rate is of delivered, as in the table
    table = table_with(page, "Campaign")
    assert table[2] == ["Jarní novinky", "completed", "120", "100", "98 98.0%", "40 40.8%", "12 12.2%", "2 2.0%",
                        "1 1.0%", "3 3.1%", "15"]
    assert table[1][4:6] == ["0 –", "0 –"]
    assert table[-1][0] == "Total" and table[-1][2:4] == ["180", "150"]
    suppressed = page.charts["chart-suppressed"]
    assert len(suppressed["bars"]) == 3
    assert [t for t in page.tables if t[0][0] == "Reason"][-1][1:] == [
        ["Unsubscribed", "11", "44.0%"], ["No marketing consent", "10", "40.0%"],
        ["The last e-mail bounced", "4", "16.0%"], ["Total", "25", "100.0%"]]


def test_every_chart_is_an_accessible_image() -> None:
    html = render()
    page = Page(html)
    assert len(page.charts) == 1 + 3 + 2 + 1 + 2 + 1
    for cid, chart in page.charts.items():
        attrs = chart["attrs"]
        assert attrs["role"] == "img"
        assert attrs["aria-labelledby"] == f"{cid}-t {cid}-d"
        assert chart["title"].strip() and chart["desc"].strip()
        assert chart["bars"], cid
        assert all(float(b["width"]) > 0 and float(b["height"]) > 0 for b in chart["bars"]), cid
    assert html.count(f'id="{next(iter(page.charts))}-t"') == 1


# --- self-contained, escaped ----------------------------------------------------------------------------------


def test_the_file_needs_nothing_from_outside() -> None:
    html = render()
    lowered = html.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "@font-face"):
        assert needle not in lowered, needle
    # the only URLs: the SVG namespace and the data source shown as text
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) == {"http://www.w3.org/2000/svg", SOURCE}
    assert not re.search(r'href="(?!#)', html)


def test_user_text_is_escaped_everywhere() -> None:
    data = report_data.report_data()
    evil = "<script>alert(1)</script>"
    for report in data["loss_reasons"].values():
        report["reasons"][0]["reason"] = evil
        for segment in report["segments"]:
            for reason in segment["reasons"]:
                if reason["reason"] == "Cena":
                    reason["reason"] = evil
        report["segments"][0]["segment"] = '<b onmouseover="x()">Strojírenství & spol.</b>'
    data["campaigns"]["campaigns"][1]["name"] = '"><img src=x onerror=alert(1)>'
    html = render(data)
    assert "<script" not in html and "<img" not in html and "<b " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;Strojírenství &amp; spol.&lt;/b&gt;" in html
    page = Page(html)
    # the reason reads as text in the chart, its tooltip, the legend and the tables
    chart = page.charts["chart-loss-reasons"]
    assert chart["texts"][0] == evil
    assert chart["bars"][0] and evil in html_text(html)
    assert [evil, "3", "37,5 %", "150 000 CZK"] in table_with(page, "Důvod")
    assert page.charts["chart-funnel-2"]["title"] == '"><img src=x onerror=alert(1)>'


# --- empty period ---------------------------------------------------------------------------------------------


def test_an_empty_period_gives_notes_not_charts() -> None:
    html = render(report_data.empty_data())
    page = Page(html)
    assert page.charts == {}
    text = " ".join(page.texts)
    for note in ("V tomto období nejsou žádné prohrané obchody.", "V tomto období nejsou žádné nákupy.",
                 "V tomto období automatizace nic nezpracovaly.", "V tomto období nebyly vytvořeny žádné kampaně."):
        assert note in text
    # the workflow table still says what was counted (zeros, and – where a figure does not apply)
    assert ["Zařazené kontakty", "0", "0", "0", "0"] in table_with(page, "Automatizace")
    assert "Úspěšnost" in text and "–" in text


def test_english_and_unknown_locale() -> None:
    assert "Marketing and sales report" in render(locale="en")
    assert "Marketing and sales report" in render(locale="de")


# --- writing, shipping ----------------------------------------------------------------------------------------


class StubClient:
    base_url = "http://stub.invalid"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def report_loss_reasons(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("loss", kwargs))
        return report_data.loss_reasons(kwargs["by"])

    def report_retention(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("retention", kwargs))
        return report_data.RETENTION

    def report_workflows(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("workflows", kwargs))
        return report_data.WORKFLOWS

    def report_campaigns(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("campaigns", kwargs))
        return report_data.CAMPAIGNS


def test_write_report_creates_the_file(tmp_path: Path) -> None:
    client = StubClient()
    out = write_report(client, tmp_path / "a" / "b" / "report.html", month_from="2026-01", month_to="2026-06",
                       period="2026-Q2", locale="en")
    assert out == tmp_path / "a" / "b" / "report.html"
    html = out.read_text(encoding="utf-8")
    assert "Marketing and sales report" in html and "http://stub.invalid" in html
    months = {"month_from": "2026-01", "month_to": "2026-06"}
    assert client.calls == [("loss", {"by": "industry", **months}), ("loss", {"by": "owner", **months}),
                            ("loss", {"by": "product", **months}), ("retention", {"period": "2026-Q2"}),
                            ("workflows", months), ("campaigns", months)]


def test_the_template_is_shipped_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["crm_cli"]
    package = Path(crm_cli.__file__).parent
    assert TEMPLATE_DIR.parent == package
    shipped = {p.relative_to(package).as_posix() for pattern in patterns for p in package.glob(pattern)}
    assert f"templates/{TEMPLATE}" in shipped
    assert "playwright" in " ".join(config["project"]["optional-dependencies"]["dev"])
