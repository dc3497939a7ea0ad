"""The reports part of `make demo` (issue #7): what the sales team learns from the year's data.

At the end of the demo the orders and closed deals of March to June come in (as an ERP / e-shop import would bring
them, with their past times); the report aggregator has kept running totals from the streams all along. Then the
four reports are read through the HTTP API (loss reasons, retention, workflow results, campaigns), a short Czech
summary is printed, and the self-contained HTML report is written with the `crm` CLI's renderer, through the
emulation's HTTP API served on a local port, as `crm reports html` would do against AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from crm_cli.i18n import money, money_map, rate
from crm_local import sample_data
from crm_local.http import ok as _ok

MONTH_FROM, MONTH_TO = "2025-08", "2026-07"  # the last twelve months (the demo ends on 1 July 2026)
RETENTION_PERIOD = "2026"
REPORT_FILE = "report.html"


def load_late(cloud: Any, crm: sample_data.SampleCrm) -> dict[str, int]:
    """The deals closed and the orders placed during the demo, entered through the API with their past times."""
    for deal in crm.late_deals:
        _ok(cloud.http("POST", "/deals", json=deal), f"deal {deal['deal_id']}")
    for activity in crm.late_activities:
        _ok(cloud.http("POST", "/activities", json=activity), f"activity {activity['activity_id']}")
    return {"deals": len(crm.late_deals), "purchases": len(crm.late_activities)}


def fetch_reports(cloud: Any) -> dict[str, Any]:
    """The four reports as the HTTP API returns them (JSON)."""
    months = {"from": MONTH_FROM, "to": MONTH_TO}
    return {
        "loss": _ok(cloud.http("GET", "/reports/loss-reasons", query=months | {"by": "industry"}), "loss reasons"),
        "retention": _ok(cloud.http("GET", "/reports/retention", query={"period": RETENTION_PERIOD}), "retention"),
        "workflows": _ok(cloud.http("GET", "/reports/workflows", query=months), "workflows"),
        "campaigns": _ok(cloud.http("GET", "/reports/campaigns", query=months), "campaigns"),
    }


def write_html(cloud: Any, out: Path) -> Path:
    """The HTML report, fetched by the CLI's client over real HTTP from the emulated API."""
    from crm_cli.client import CrmClient
    from crm_cli.report_html import write_report

    client = CrmClient(cloud.serve_http(0), token=cloud.token)
    return write_report(client, out, month_from=MONTH_FROM, month_to=MONTH_TO, period=RETENTION_PERIOD)


def run_reports_story(cloud: Any, note: Any, crm: sample_data.SampleCrm) -> dict[str, Any]:
    late = load_late(cloud, crm)
    note(f"Import z ERP a e-shopu: {late['purchases']} objednávek a {late['deals']} uzavřených obchodů za březen až "
         "červen (s jejich skutečnými daty) → průběžné součty reportů se aktualizují ze streamů")
    result = fetch_reports(cloud)
    out = Path(cloud.out_dir) if cloud.out_dir is not None else Path("out")
    result["html"] = str(write_html(cloud, out / REPORT_FILE))
    note(f"HTML report (ztráty, retence, workflow, kampaně) zapsán: {result['html']}")
    return result


# ---------------------------------------------------------------- the printed summary


def summary_lines(reports: dict[str, Any]) -> list[str]:
    """The key figures in Czech, one line each."""
    loss, retention = reports["loss"], reports["retention"]
    lines = []
    totals = loss["totals"]
    named = [r for r in loss["reasons"] if r["reason"]]
    if named:
        top = named[0]
        lines.append(f"Nejčastější důvod ztráty ({loss['from']} až {loss['to']}): „{top['reason']}“ – {top['lost']} "
                     f"z {totals['lost']} prohraných obchodů ({rate(top['share'])}), {money_map(top['value'])}")
    lines.append(f"Obchody: vyhráno {totals['won']}, prohráno {totals['lost']}, úspěšnost {rate(totals['win_rate'])}")
    segments = [s for s in loss["segments"] if s["segment"] and s["lost"]]
    if segments:
        worst = segments[0]
        lines.append(f"Nejvíc ztrát v oboru {worst['segment']}: {worst['lost']} prohraných, úspěšnost "
                     f"{rate(worst['win_rate'])}")
    lines.append(f"Retence {retention['period']}: {retention['retained_customers']} z {retention['customers']} "
                 f"zákazníků nakoupilo 3× a víc ({rate(retention['retention_rate'])}); opakovaně nakoupilo "
                 f"{retention['returning_customers']} ({rate(retention['repeat_rate'])})")
    currency = retention["currency"]
    lines.append(f"Průměrná objednávka: jednorázoví zákazníci {money(retention['aov_one_time'], currency)}, "
                 f"vracející se {money(retention['aov_returning'], currency)}; průměrný odstup nákupů "
                 + ("–" if retention["avg_gap_days"] is None else f"{retention['avg_gap_days']:.0f} dní"))
    flows = {w["workflow"]: w for w in reports["workflows"]["workflows"]}
    inactivity, reactivation = flows.get("inactivity") or {}, flows.get("deal_reactivation") or {}
    lines.append(f"Flow neaktivity: zařazeno {inactivity.get('enrolled')}, e-mailů {inactivity.get('emails_sent')}, "
                 f"reakcí {inactivity.get('reactions')}, nových obchodů {inactivity.get('new_deals')} "
                 f"({money_map(inactivity.get('new_deal_value'))})")
    lines.append(f"Reaktivace obchodů: {reactivation.get('enrolled')} průchodů, reakcí "
                 f"{reactivation.get('reactions')}, vyhraných obchodů {reactivation.get('won_deals')} "
                 f"({money_map(reactivation.get('won_value'))})")
    for campaign in reports["campaigns"]["campaigns"]:
        if campaign["sent"]:
            rates = campaign["rates"]
            lines.append(f"Kampaň „{campaign['name']}“: odesláno {campaign['sent']}, doručeno {campaign['delivered']}, "
                         f"otevřelo {campaign['opened']} ({rate(rates['open'])} doručených), kliklo "
                         f"{campaign['clicked']}, vynecháno {campaign['suppressed_total']}")
    return lines


def print_reports_summary(reports: dict[str, Any], console: Console) -> None:
    console.print("\nReporty (GET /reports/*, průběžné součty ze streamů):")
    for line in summary_lines(reports):
        console.print(f"  • {line}")
    console.print(f"HTML report (otevřete v prohlížeči, bez externích zdrojů): {reports['html']}")
