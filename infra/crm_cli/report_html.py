"""The self-contained HTML report (``crm report html``): the four reports in one file, charts as inline SVG.

No JavaScript, no external fonts, scripts, images or style sheets: the file opens offline and prints on A4. Charts are
SVG drawn here in Python; every chart has ``role="img"``, a ``<title>`` and a ``<desc>``, and the exact figures are in
a table under it. The page is rendered by Jinja2 with autoescape on: reasons, segments and campaign names are data
and appear as text (every string that goes into an SVG is escaped here, the rest by the template).

- :func:`fetch_report_data` asks the API for loss reasons (by industry, owner and product), retention, workflows and
  campaigns;
- :func:`render_report` turns that data into the HTML text (pure);
- :func:`write_report` does both and writes the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from crm_cli.client import CrmError
from crm_cli.i18n import (
    decimal,
    money,
    money_map,
    number,
    rate,
    reason_label,
    segment_label,
    status_label,
    t,
    workflow_label,
)
from crm_cli.report_tables import (
    CAMPAIGN_COLUMNS,
    FUNNEL,
    RATE_OF,
    WORKFLOW_FIGURES,
    ordered_workflows,
    period_text,
    retention_period,
    workflow_figure,
)

__all__ = ["LOSS_DIMENSIONS", "TEMPLATE", "fetch_report_data", "render_report", "write_report"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE = "report.html.j2"
LOSS_DIMENSIONS = ("industry", "owner", "product")
REPORT_ZONE = ZoneInfo("Europe/Prague")  # the reports' periods are Prague-local (settings.timezone)

# Reason colours (dark enough for white labels); the 8th and later reasons share OTHER_COLOUR.
PALETTE = ("#2b59c3", "#e07b1f", "#1a936f", "#c8385a", "#7b52ab", "#1f8fa8", "#b08a10")
OTHER_COLOUR = "#4f5b6e"
NOT_GIVEN_COLOUR = "#7d8799"
WORKFLOW_SERIES = (("enrolled", "#2b59c3"), ("emails_sent", "#1f8fa8"), ("reactions", "#e07b1f"),
                   ("new_deals", "#1a936f"))
FUNNEL_COLOURS = {"sent": "#1e3a8a", "delivered": "#2b59c3", "opened": "#4f86e0", "clicked": "#1a936f"}
NBSP = "\u00a0"


class ReportClient(Protocol):
    base_url: str

    def report_loss_reasons(self, **kwargs: Any) -> dict[str, Any]: ...

    def report_retention(self, **kwargs: Any) -> dict[str, Any]: ...

    def report_workflows(self, **kwargs: Any) -> dict[str, Any]: ...

    def report_campaigns(self, **kwargs: Any) -> dict[str, Any]: ...


# --- data -----------------------------------------------------------------------------------------------------


def fetch_report_data(client: ReportClient, *, month_from: str | None = None, month_to: str | None = None,
                      period: str | None = None) -> dict[str, Any]:
    """``{"loss_reasons": {"industry": ..., "owner": ..., "product": ...}, "retention": ..., "workflows": ...,
    "campaigns": ...}``: each value the API's JSON as is."""
    months = {"month_from": month_from, "month_to": month_to}
    return {
        "loss_reasons": {by: client.report_loss_reasons(by=by, **months) for by in LOSS_DIMENSIONS},
        "retention": client.report_retention(period=period),
        "workflows": client.report_workflows(**months),
        "campaigns": client.report_campaigns(**months),
    }


def write_report(client: ReportClient, out: Path, *, month_from: str | None = None, month_to: str | None = None,
                 period: str | None = None, locale: str = "cs") -> Path:
    """Fetch the four reports, render them and write ``out`` (parents created); the path written."""
    data = fetch_report_data(client, month_from=month_from, month_to=month_to, period=period)
    html = render_report(data, locale=locale, generated_at=datetime.now(UTC), source=client.base_url)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise CrmError(f"Cannot write the report to {out}: {exc.strerror or exc}") from None
    return out


# --- small helpers --------------------------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, Sequence) else []


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _amount(value: Any) -> float:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


def _amount_total(values: Any) -> float:
    """A money map as one number for bar lengths (only meaningful with one currency, which is the common case)."""
    return sum(_amount(v) for v in _map(values).values())


def _nb(text: str) -> str:
    """Czech thousands separators and ``37,5 %`` must not break across lines."""
    return text.replace(" ", NBSP)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 1)].rstrip() + "…"


def _n(value: float) -> str:
    """An SVG coordinate."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


# --- SVG charts -----------------------------------------------------------------------------------------------

CHAR_W = 6.6  # average width of a 12 px character of the system UI font, for label fitting


@dataclass
class Chart:
    """One SVG chart: ``svg`` is safe markup (every text in it escaped)."""

    id: str
    title: str
    svg: Markup
    legend: list[tuple[str, str]] = field(default_factory=list)


def _svg(cid: str, title: str, desc: str, width: float, height: float, body: list[str]) -> Markup:
    head = (f'<svg class="chart" id="{escape(cid)}" role="img" aria-labelledby="{escape(cid)}-t {escape(cid)}-d" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
            f'xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{escape(cid)}-t">{escape(title)}</title><desc id="{escape(cid)}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _rect(x: float, y: float, w: float, h: float, colour: str, tip: str, cls: str = "bar") -> str:
    return (f'<rect class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="3" '
            f'fill="{escape(colour)}"><title>{escape(tip)}</title></rect>')


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    attrs = f' class="{cls}"' if cls else ""
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    return f'<text x="{_n(x)}" y="{_n(y)}"{attrs}>{escape(text)}</text>'


@dataclass
class HBar:
    label: str
    value: float
    text: str
    colour: str


def hbar_chart(cid: str, title: str, desc: str, rows: Sequence[HBar], *, width: float = 960,
               label_w: float = 200, value_w: float = 190, scale: float | None = None) -> Chart:
    """Horizontal bars, one per row: label on the left, the bar, the figures on the right. ``scale`` = the value of a
    full bar (default: the largest value). A zero value draws no bar (its figures are still written)."""
    row_h, bar_h, top = 30, 18, 6
    height = top * 2 + row_h * len(rows)
    plot = width - label_w - value_w
    full = scale if scale else max((r.value for r in rows), default=0) or 1
    body = []
    for n, row in enumerate(rows):
        y = top + n * row_h
        body.append(_text(label_w - 10, y + row_h / 2 + 4, _fit(row.label, int((label_w - 14) / CHAR_W)),
                          "label", "end"))
        body.append(f'<rect class="track" x="{_n(label_w)}" y="{_n(y + (row_h - bar_h) / 2)}" width="{_n(plot)}" '
                    f'height="{bar_h}" rx="3"/>')
        w = plot * min(row.value / full, 1) if row.value > 0 else 0
        if w > 0:
            body.append(_rect(label_w, y + (row_h - bar_h) / 2, max(w, 2), bar_h, row.colour,
                              f"{row.label}: {row.text}"))
        body.append(_text(label_w + plot + 10, y + row_h / 2 + 4, row.text, "value"))
    return Chart(cid, title, _svg(cid, title, desc, width, height, body))


@dataclass
class Stack:
    label: str
    total_text: str
    parts: list[tuple[str, float, str, str]]  # (name, value, colour, tooltip)


def stacked_chart(cid: str, title: str, desc: str, rows: Sequence[Stack], legend: list[tuple[str, str]], *,
                  lang: str = "cs", width: float = 960, label_w: float = 200, total_w: float = 70,
                  empty_text: str = "") -> Chart:
    """100 % stacked horizontal bars: each row's parts as shares of the row's sum, the share written inside a part
    wide enough for it."""
    row_h, bar_h, top = 32, 20, 6
    height = top * 2 + row_h * len(rows)
    plot = width - label_w - total_w
    body = []
    for n, row in enumerate(rows):
        y = top + n * row_h
        by = y + (row_h - bar_h) / 2
        body.append(_text(label_w - 10, y + row_h / 2 + 4, _fit(row.label, int((label_w - 14) / CHAR_W)),
                          "label", "end"))
        whole = sum(v for _, v, _, _ in row.parts if v > 0)
        if not whole:
            body.append(_text(label_w, y + row_h / 2 + 4, empty_text, "muted"))
        x = label_w
        for name, value, colour, tip in row.parts:
            if value <= 0:
                continue
            w = plot * value / whole
            body.append(_rect(x, by, w, bar_h, colour, tip, "bar seg"))
            share = rate(value / whole, lang, 0)
            if w >= len(share) * CHAR_W + 8:
                body.append(_text(x + w / 2, by + bar_h / 2 + 4, share, "in", "middle"))
            x += w
        body.append(_text(width - 4, y + row_h / 2 + 4, row.total_text, "value", "end"))
    return Chart(cid, title, _svg(cid, title, desc, width, height, body), legend)


def vbar_chart(cid: str, title: str, desc: str, categories: Sequence[str],
               series: Sequence[tuple[str, str, Sequence[float | None], Sequence[str]]], *,
               width: float = 440, height: float = 240) -> Chart:
    """Vertical bars: one group per category, one bar per series (name, colour, values, value texts); a ``None``
    value (does not apply) draws ``–``, a zero draws nothing but its ``0``."""
    top, bottom, left, right = 22, 34, 8, 8
    plot_h = height - top - bottom
    plot_w = width - left - right
    values = [v for _, _, vals, _ in series for v in vals if v]
    full = max(values, default=0) or 1
    group_w = plot_w / max(len(categories), 1)
    gap = group_w * (0.28 if len(series) == 1 else 0.2)
    bar_w = (group_w - gap) / max(len(series), 1)
    base = top + plot_h
    body = [f'<line class="axis" x1="{_n(left)}" x2="{_n(width - right)}" y1="{_n(base)}" y2="{_n(base)}"/>']
    for c, category in enumerate(categories):
        gx = left + c * group_w + gap / 2
        for s, (name, colour, vals, texts) in enumerate(series):
            value = vals[c]
            x = gx + s * bar_w
            h = plot_h * value / full if value else 0
            if h > 0:
                body.append(_rect(x + 1, base - max(h, 2), bar_w - 2, max(h, 2), colour,
                                  f"{category} · {name}: {texts[c]}"))
            small = " small" if len(series) > 1 else ""
            body.append(_text(x + bar_w / 2, base - h - 5, texts[c], f"value{small}", "middle"))
        body.append(_text(left + c * group_w + group_w / 2, base + 18, _fit(category, int(group_w / CHAR_W)),
                          "label", "middle"))
    legend = [(colour, name) for name, colour, _, _ in series] if len(series) > 1 else []
    return Chart(cid, title, _svg(cid, title, desc, width, height, body), legend)


# --- sections -------------------------------------------------------------------------------------------------


@dataclass
class Table:
    head: list[str]
    rows: list[list[Any]]  # a cell is a str or (str, str) = (figure, rate under it)
    foot: list[list[Any]] = field(default_factory=list)
    left: int = 1  # how many first columns are text (left-aligned); the rest are figures


def _reason_colours(reasons: Sequence[Mapping[str, Any]]) -> dict[Any, str]:
    colours: dict[Any, str] = {}
    n = 0
    for reason in reasons:
        key = reason.get("reason") or None
        if key is None:
            colours[key] = NOT_GIVEN_COLOUR
        elif n < len(PALETTE):
            colours[key] = PALETTE[n]
            n += 1
    return colours


def _loss_section(reports: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Overall reasons (bar chart + table), then per dimension a 100 % stacked chart by reason + a table."""
    first = next((_map(reports.get(d)) for d in LOSS_DIMENSIONS if reports.get(d)), {})
    totals = _map(first.get("totals"))
    reasons = _list(first.get("reasons"))
    section: dict[str, Any] = {
        "period": period_text(first),
        "kpis": [
            (t(lang, "lost"), _nb(number(totals.get("lost"), lang)), _nb(money_map(totals.get("lost_value"), lang))),
            (t(lang, "won"), _nb(number(totals.get("won"), lang)), _nb(money_map(totals.get("won_value"), lang))),
            (t(lang, "win_rate"), _nb(rate(totals.get("win_rate"), lang)), ""),
        ],
        "empty": not _count(totals.get("lost")) or not reasons,
        "charts": [],
    }
    if section["empty"]:
        return section
    colours = _reason_colours(reasons)
    label = {r.get("reason") or None: segment_label(r.get("reason"), lang) for r in reasons}
    rows = [HBar(label[r.get("reason") or None], float(_count(r.get("lost"))),
                 _nb(f"{number(r.get('lost'), lang)} · {rate(r.get('share'), lang)} · "
                     f"{money_map(r.get('value'), lang)}"),
                 colours.get(r.get("reason") or None, OTHER_COLOUR)) for r in reasons]
    chart = hbar_chart("chart-loss-reasons", t(lang, "loss_reasons_title"),
                       t(lang, "chart_share_desc", n=number(totals.get("lost"), lang)) + " "
                       + t(lang, "chart_desc_values", ), rows, value_w=250)
    table = Table([t(lang, "reason"), t(lang, "lost"), t(lang, "share"), t(lang, "value")],
                  [[label[r.get("reason") or None], _nb(number(r.get("lost"), lang)), _nb(rate(r.get("share"), lang)),
                    _nb(money_map(r.get("value"), lang))] for r in reasons],
                  foot=[[t(lang, "total"), _nb(number(totals.get("lost"), lang)), _nb(rate(1.0, lang)),
                         _nb(money_map(totals.get("lost_value"), lang))]])
    section["charts"].append({"chart": chart, "table": table})
    # per segment: the coloured reasons, the rest as "other"
    shown = list(colours)
    legend = [(colours[k], label[k]) for k in shown]
    has_other = len(reasons) > len(shown)
    if has_other:
        legend.append((OTHER_COLOUR, t(lang, "other")))
    for dim in LOSS_DIMENSIONS:
        report = _map(reports.get(dim))
        segments = _list(report.get("segments"))
        if not segments:
            continue
        by_name = t(lang, f"by_{dim}")
        stacks, table_rows = [], []
        for segment in segments:
            seg_label = segment_label(segment.get("segment"), lang)
            lost = _count(segment.get("lost"))
            counts = {(r.get("reason") or None): r for r in _list(segment.get("reasons"))}
            parts: list[tuple[str, float, str, str]] = []
            cells: list[Any] = []
            for key in shown:
                r = _map(counts.get(key))
                parts.append((label[key], float(_count(r.get("lost"))), colours[key],
                              f"{seg_label} · {label[key]}: {number(_count(r.get('lost')), lang)} "
                              f"({rate(r.get('share', 0.0), lang)})"))
                cells.append((_nb(number(_count(r.get("lost")), lang)), _nb(rate(r.get("share"), lang))) if r
                             else "–")
            if has_other:
                other = sum(_count(r.get("lost")) for k, r in counts.items() if k not in colours)
                share = other / lost if lost else None
                parts.append((t(lang, "other"), float(other), OTHER_COLOUR,
                              f"{seg_label} · {t(lang, 'other')}: {number(other, lang)} ({rate(share, lang)})"))
                cells.append((_nb(number(other, lang)), _nb(rate(share, lang))) if other else "–")
            stacks.append(Stack(seg_label, _nb(f"n = {number(lost, lang)}"), parts))
            table_rows.append([seg_label, _nb(number(lost, lang)), _nb(number(segment.get("won"), lang)),
                               _nb(rate(segment.get("win_rate"), lang)),
                               _nb(money_map(segment.get("lost_value"), lang)), *cells])
        title = t(lang, "per_segment", by=by_name)
        chart = stacked_chart(f"chart-loss-{dim}", title,
                              f"{title}. {t(lang, 'chart_desc_values')}", stacks, legend, lang=lang,
                              empty_text=t(lang, "no_lost"))
        head = [by_name.capitalize(), t(lang, "lost"), t(lang, "won"), t(lang, "win_rate"), t(lang, "lost_value"),
                *(label[k] for k in shown), *([t(lang, "other")] if has_other else [])]
        section["charts"].append({"chart": chart, "table": Table(head, table_rows)})
    return section


def _retention_section(report: Mapping[str, Any], lang: str) -> dict[str, Any]:
    currency = str(report.get("currency") or "")
    customers = _count(report.get("customers"))

    def cash(value: Any) -> str:
        return _nb(money(value, currency, lang))

    section: dict[str, Any] = {
        "period": retention_period(report, lang),
        "empty": not customers,
        "facts": [(t(lang, "customers"), _nb(number(report.get("customers"), lang))),
                  (t(lang, "orders"), _nb(number(report.get("orders"), lang))),
                  (t(lang, "revenue"), cash(report.get("revenue"))),
                  (t(lang, "aov"), cash(report.get("aov")))],
    }
    if not customers:
        return section
    one, back = _amount(report.get("aov_one_time")), _amount(report.get("aov_returning"))
    section["kpis"] = [
        {"label": t(lang, "retention_rate"), "value": _nb(rate(report.get("retention_rate"), lang)),
         "note": _nb(f"{number(report.get('retained_customers'), lang)} / {number(customers, lang)}")},
        {"label": t(lang, "repeat_rate"), "value": _nb(rate(report.get("repeat_rate"), lang)),
         "note": _nb(f"{number(report.get('returning_customers'), lang)} / {number(customers, lang)}")},
        {"label": t(lang, "aov_compare"), "value": cash(report.get("aov_returning")),
         "note": _nb(f"{t(lang, 'aov_one_time')}: {money(report.get('aov_one_time'), currency, lang)}"),
         "bars": [(t(lang, "one_time"), cash(report.get("aov_one_time")), one),
                  (t(lang, "returning"), cash(report.get("aov_returning")), back)]},
        {"label": t(lang, "avg_gap"), "value": _nb(decimal(report.get("avg_gap_days"), lang)),
         "note": t(lang, "days")},
    ]
    top = max(one, back) or 1
    for kpi in section["kpis"]:
        if "bars" in kpi:
            kpi["bars"] = [(name, text, round(100 * value / top, 1)) for name, text, value in kpi["bars"]]
    groups = _list(report.get("groups"))
    labels = [str(g.get("label") or g.get("orders") or "") for g in groups]
    customers_chart = vbar_chart(
        "chart-retention-customers", t(lang, "customers_per_group"),
        f"{t(lang, 'customers_per_group')}. {t(lang, 'chart_desc_values')}", labels,
        [(t(lang, "customers"), "#2b59c3", [float(_count(g.get("customers"))) for g in groups],
          [_nb(number(g.get("customers"), lang)) for g in groups])])
    revenue_chart = vbar_chart(
        "chart-retention-revenue", f"{t(lang, 'revenue_per_group')} ({currency})",
        f"{t(lang, 'revenue_per_group')} ({currency}). {t(lang, 'chart_desc_values')}", labels,
        [(t(lang, "revenue"), "#1a936f", [_amount(g.get("revenue")) for g in groups],
          [_nb(_short_money(g.get("revenue"), lang)) for g in groups])])
    section["charts"] = [customers_chart, revenue_chart]
    section["table"] = Table(
        [t(lang, "orders_count"), t(lang, "customers"), t(lang, "share_customers"), t(lang, "orders"),
         t(lang, "revenue"), t(lang, "share_revenue")],
        [[label, _nb(number(g.get("customers"), lang)), _nb(rate(g.get("share_customers"), lang)),
          _nb(number(g.get("orders_total"), lang)), cash(g.get("revenue")), _nb(rate(g.get("share_revenue"), lang))]
         for label, g in zip(labels, groups, strict=True)],
        foot=[[t(lang, "total"), _nb(number(customers, lang)), _nb(rate(1.0, lang)),
               _nb(number(report.get("orders"), lang)), cash(report.get("revenue")), _nb(rate(1.0, lang))]],
        left=0)
    return section


def _short_money(value: Any, lang: str) -> str:
    """A bar label: ``6845.00`` -> ``6 845``; from 100 000 on shortened: ``1,2 mil.`` / ``1.2M``,
    ``145,6 tis.`` / ``145.6k``."""
    amount = _amount(value)
    for limit, cs, en in ((1_000_000, "mil.", "M"), (100_000, "tis.", "k")):
        if abs(amount) >= limit:
            limit = 1_000 if limit == 100_000 else limit
            text = decimal(amount / limit, lang, 1)
            return f"{text} {cs}" if lang == "cs" else f"{text}{en}"
    return decimal(amount, lang, 0)


def _workflows_section(report: Mapping[str, Any], lang: str) -> dict[str, Any]:
    rows = ordered_workflows(report)
    names = [workflow_label(str(r.get("workflow")), lang) for r in rows]
    active = any(_count(r.get(key)) for r in rows for key, _ in WORKFLOW_SERIES)
    section: dict[str, Any] = {"period": period_text(report), "empty": not active}
    section["table"] = Table([t(lang, "workflow"), *names],
                             [[t(lang, f"wf_{key}"), *(_nb(workflow_figure(r, key, lang).replace("\n", " + "))
                                                      for r in rows)] for key in WORKFLOW_FIGURES])
    if active:
        series = [(t(lang, f"wf_{key}"), colour,
                   [None if r.get(key) is None else float(_count(r.get(key))) for r in rows],
                   [_nb(number(r.get(key), lang)) for r in rows]) for key, colour in WORKFLOW_SERIES]
        section["chart"] = vbar_chart("chart-workflows", t(lang, "workflow_chart"),
                                      f"{t(lang, 'workflow_chart')}. {t(lang, 'chart_desc_values')}", names, series,
                                      width=960, height=300)
    return section


def _campaigns_section(report: Mapping[str, Any], lang: str) -> dict[str, Any]:
    campaigns = _list(report.get("campaigns"))
    totals = _map(report.get("totals"))
    section: dict[str, Any] = {"period": period_text(report), "empty": not campaigns, "funnels": []}
    if not campaigns:
        return section
    for n, c in enumerate(campaigns, 1):
        sent = _count(c.get("sent"))
        name = str(c.get("name") or c.get("campaign_id") or "")
        rates = _map(c.get("rates"))
        rows = []
        for key in FUNNEL:
            value = _count(c.get(key))
            text = number(value, lang) + (f" · {rate(rates.get(RATE_OF[key]), lang)}" if key in RATE_OF else "")
            rows.append(HBar(t(lang, key), float(value), _nb(text), FUNNEL_COLOURS[key]))
        chart = hbar_chart(f"chart-funnel-{n}", name,
                           f"{t(lang, 'funnel_title')}: {name}. {t(lang, 'funnel_desc')}", rows,
                           width=440, label_w=100, value_w=110, scale=float(sent or 1))
        section["funnels"].append({"title": name, "chart": chart if sent else None,
                                   "status": status_label(str(c.get("status") or "?"), lang)})
    by_reason = _map(totals.get("suppressed")).items()
    suppressed = sorted(((_capital(reason_label(str(k), lang)), _count(v)) for k, v in by_reason
                         if _count(v)), key=lambda kv: (-kv[1], kv[0]))
    if suppressed:
        whole = sum(v for _, v in suppressed)
        section["suppressed"] = hbar_chart(
            "chart-suppressed", t(lang, "suppressed_by_reason"),
            f"{t(lang, 'suppressed_by_reason')}. {t(lang, 'chart_desc_values')}",
            [HBar(label, float(v), _nb(f"{number(v, lang)} · {rate(v / whole, lang)}"), "#c8385a")
             for label, v in suppressed], label_w=330, value_w=140)
        section["suppressed_table"] = Table([t(lang, "reason"), t(lang, "count"), t(lang, "share")],
                                            [[label, _nb(number(v, lang)), _nb(rate(v / whole, lang))]
                                             for label, v in suppressed],
                                            foot=[[t(lang, "total"), _nb(number(whole, lang)), _nb(rate(1.0, lang))]])

    def cells(row: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for key in CAMPAIGN_COLUMNS:
            value = _nb(number(row.get("suppressed_total" if key == "suppressed" else key), lang))
            out.append((value, _nb(rate(_map(row.get("rates")).get(RATE_OF[key]), lang))) if key in RATE_OF
                       else value)
        return out

    section["table"] = Table(
        [t(lang, "campaign"), t(lang, "status"), *(t(lang, k) for k in CAMPAIGN_COLUMNS)],
        [[str(c.get("name") or ""), status_label(str(c.get("status") or "?"), lang), *cells(c)] for c in campaigns],
        foot=[[t(lang, "total"), "", *cells(totals)]] if totals else [], left=2)
    return section


# --- the page -------------------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_report(data: Mapping[str, Any], *, locale: str, generated_at: datetime, source: str) -> str:
    """The report page for ``data`` (the shape :func:`fetch_report_data` returns) in ``locale`` (``cs``/``en``)."""
    lang = locale if locale in ("cs", "en") else "en"
    moment = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    loss = _loss_section(_map(data.get("loss_reasons")), lang)
    text: Callable[..., str] = lambda key, **values: t(lang, key, **values)  # noqa: E731
    context = {
        "lang": lang,
        "t": text,
        "period": loss["period"] or period_text(_map(data.get("workflows"))),
        "generated": moment.astimezone(REPORT_ZONE).strftime("%Y-%m-%d %H:%M %Z"),
        "source": source,
        "loss": loss,
        "retention": _retention_section(_map(data.get("retention")), lang),
        "workflows": _workflows_section(_map(data.get("workflows")), lang),
        "campaigns": _campaigns_section(_map(data.get("campaigns")), lang),
    }
    return _environment().get_template(TEMPLATE).render(context)
