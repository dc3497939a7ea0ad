"""Czech (default) and English wording of the CLI.

Exclusion/suppression reasons use the product's own labels (``reason_<key>`` in
:data:`crm_automation.labels.DEFAULT_LABELS`), so the CLI says what the CRM says; the few reasons that module does
not word yet are worded here, and an unknown key is shown as is.
"""

from __future__ import annotations

from crm_automation.labels import DEFAULT_LABELS

__all__ = [
    "LANGS", "REASONS", "STATUS_STYLES", "WORKFLOWS", "decimal", "money", "money_map", "number", "percent", "rate",
    "reason_label", "segment_label", "status_label", "t", "workflow_label",
]

LANGS = ("cs", "en")

# Every reason the API reports (exclusions in a preview, suppressions in a campaign's progress); a preview may also
# say "duplicate" (a second contact with an address already in the audience).
REASONS = (
    "no_email", "archived", "do_not_contact", "unsubscribed", "bounced", "complaint", "marketing_paused",
    "no_consent", "erased", "frequency_cap",
)

# Reasons crm_automation.labels does not word (yet); its own wording wins once it does.
_EXTRA_REASON_LABELS = {
    "cs": {"reason_erased": "Vymazán (GDPR)", "reason_frequency_cap": "Limit e-mailů za týden",
           "reason_duplicate": "stejná adresa u více kontaktů"},
    "en": {"reason_erased": "Erased (GDPR)", "reason_frequency_cap": "Weekly e-mail limit",
           "reason_duplicate": "same address on several contacts"},
}

STATUS_STYLES = {
    "draft": "dim",
    "scheduled": "cyan",
    "running": "bold blue",
    "paused": "yellow",
    "completed": "green",
    "cancelled": "red",
}

_STATUS = {
    "cs": {
        "draft": "koncept", "scheduled": "naplánována", "running": "probíhá", "paused": "pozastavena",
        "completed": "dokončena", "cancelled": "zrušena",
    },
    "en": {
        "draft": "draft", "scheduled": "scheduled", "running": "running", "paused": "paused",
        "completed": "completed", "cancelled": "cancelled",
    },
}

_TEXT = {
    "cs": {
        "id": "ID", "name": "Název", "status": "Stav", "audience": "Publikum", "sent": "Odesláno",
        "suppressed": "Vyřazeno", "failed": "Selhalo", "created": "Vytvořeno", "queued": "Ve frontě",
        "waiting": "Čeká", "template": "Šablona", "locale": "Jazyk", "segment": "Segment",
        "segment_query": "Dotaz segmentu", "sender": "Odesílatel", "send_at": "Odeslat v", "launched": "Spuštěno",
        "completed_at": "Dokončeno", "progress": "Průběh", "count": "Počet", "share": "Podíl", "reason": "Důvod",
        "eligible": "Dostane e-mail", "excluded": "Vyřazeno podle důvodu", "subject": "Předmět", "from": "Od",
        "window_closed": "Okno odesílání je teď zavřené, otevře se {next}.",
        "no_campaigns": "Zatím žádné kampaně. Založte první: crm campaigns create --help",
        "campaigns_title": "Kampaně",
        "audience_hint": "kontakty odpovídající segmentu",
        "waiting_hint": "okno odesílání nebo pauza",
        "nobody_excluded": "Nikdo není vyřazen.",
        "no_samples": "Žádné ukázky (nikdo nedostane e-mail).",
        "sample": "Ukázka {n}/{total}",
        "saved_html": "HTML uloženo: {path}",
        "default_sender": "týmový odesílatel (výchozí)",
        "now": "hned po spuštění",
        "next_steps": "Další krok: crm campaigns preview {id}   potom: crm campaigns launch {id}",
        "confirm_launch": "Spustit kampaň „{name}“ ({id}) pro {eligible} z {audience} kontaktů?",
        "confirm_launch_scheduled": "Naplánovat kampaň „{name}“ ({id}) na {send_at} pro {eligible} z {audience} "
                                    "kontaktů?",
        "confirm_launch_audience": "Spustit kampaň „{name}“ ({id}) pro publikum {audience} kontaktů?",
        "aborted": "Nic nebylo spuštěno.",
        "launched_msg": "Kampaň „{name}“ spuštěna: {status}.",
        "paused_msg": "Kampaň „{name}“: {status}. Pokračovat: crm campaigns resume {id}",
        "resumed_msg": "Kampaň „{name}“: {status}.",
        "watch_hint": "Sledovat: crm campaigns watch {id}",
        "watch_stopped": "Sledování ukončeno; kampaň běží dál (crm campaigns watch {id}).",
        "watch_retry": "API neodpovídá, zkouším znovu",
        "summary": "{status}: odesláno {sent}, vyřazeno {suppressed}, selhalo {failed} z {audience}.",
        "scheduled_for": "čeká na {send_at}",
        "import_summary": "Přidáno: {added}, už bylo na seznamu: {already}, neplatných řádků: {invalid}.",
        "import_invalid_title": "Neplatné řádky",
        "line": "Řádek", "email": "E-mail", "error": "Chyba",
        "import_nothing": "Soubor {file} neobsahuje žádné řádky s e-mailem.",
        "missing_email": "chybí e-mail",
        "unknown_reason": "neznámý důvod {reason!r} (povolené: {allowed})",
        "contacts_import_title": "Import kontaktů „{source}“",
        "contacts_import_dry_title": "Zkušební import kontaktů „{source}“ (nic nebylo zapsáno)",
        "outcome_created": "Vytvořeno", "outcome_updated": "Aktualizováno",
        "outcome_unchanged": "Beze změny (už importováno)",
        "outcome_skipped_suppressed": "Vynecháno: adresa je potlačená",
        "outcome_skipped_no_consent": "Vynecháno: bez souhlasu",
        "outcome_invalid": "Neplatné řádky",
        "outcome_short_created": "vytvořen", "outcome_short_updated": "aktualizován",
        "outcome_short_unchanged": "beze změny", "outcome_short_skipped_suppressed": "potlačená adresa",
        "outcome_short_skipped_no_consent": "bez souhlasu", "outcome_short_invalid": "neplatný",
        "import_rows_title": "Řádky k pozornosti",
        "outcome": "Výsledek", "column": "Sloupec", "detail": "Podrobnosti",
        "duplicate_of": "stejná adresa jako řádek {line}: aktualizuje týž kontakt",
        "no_consent_detail": "řádek neuvádí souhlas (souhlas = ano a souhlas_kdy); bez souhlasu lze importovat "
                             "s --allow-without-consent",
        "import_progress": "Import řádků",
        "import_converted": "Soubor {file} je ve Windows-1250, odesílá se převedený do UTF-8.",
        "import_no_rows": "Soubor {file} nemá pod hlavičkou žádné řádky.",
        "import_dry_hint": "Zkušební běh: nic nebylo zapsáno. Import naostro: stejný příkaz bez --dry-run.",
        "contact_ids_truncated": "(vypsáno prvních {count} ID)",
    },
    "en": {
        "id": "ID", "name": "Name", "status": "Status", "audience": "Audience", "sent": "Sent",
        "suppressed": "Suppressed", "failed": "Failed", "created": "Created", "queued": "Queued",
        "waiting": "Waiting", "template": "Template", "locale": "Language", "segment": "Segment",
        "segment_query": "Segment query", "sender": "Sender", "send_at": "Send at", "launched": "Launched",
        "completed_at": "Completed", "progress": "Progress", "count": "Count", "share": "Share", "reason": "Reason",
        "eligible": "Will get the e-mail", "excluded": "Excluded by reason", "subject": "Subject", "from": "From",
        "window_closed": "The send window is closed now; it opens {next}.",
        "no_campaigns": "No campaigns yet. Create the first one: crm campaigns create --help",
        "campaigns_title": "Campaigns",
        "audience_hint": "contacts matching the segment",
        "waiting_hint": "send window or pause",
        "nobody_excluded": "Nobody is excluded.",
        "no_samples": "No samples (nobody would get the e-mail).",
        "sample": "Sample {n}/{total}",
        "saved_html": "HTML saved: {path}",
        "default_sender": "team sender (default)",
        "now": "right at launch",
        "next_steps": "Next: crm campaigns preview {id}   then: crm campaigns launch {id}",
        "confirm_launch": "Launch campaign \"{name}\" ({id}) to {eligible} of {audience} contacts?",
        "confirm_launch_scheduled": "Schedule campaign \"{name}\" ({id}) for {send_at} to {eligible} of {audience} "
                                    "contacts?",
        "confirm_launch_audience": "Launch campaign \"{name}\" ({id}) to an audience of {audience} contacts?",
        "aborted": "Nothing was launched.",
        "launched_msg": "Campaign \"{name}\" launched: {status}.",
        "paused_msg": "Campaign \"{name}\": {status}. To continue: crm campaigns resume {id}",
        "resumed_msg": "Campaign \"{name}\": {status}.",
        "watch_hint": "Watch: crm campaigns watch {id}",
        "watch_stopped": "Stopped watching; the campaign goes on (crm campaigns watch {id}).",
        "watch_retry": "the API does not answer, retrying",
        "summary": "{status}: sent {sent}, suppressed {suppressed}, failed {failed} of {audience}.",
        "scheduled_for": "waiting for {send_at}",
        "import_summary": "Added: {added}, already on the list: {already}, invalid rows: {invalid}.",
        "import_invalid_title": "Invalid rows",
        "line": "Line", "email": "E-mail", "error": "Error",
        "import_nothing": "{file} has no rows with an e-mail.",
        "missing_email": "missing e-mail",
        "unknown_reason": "unknown reason {reason!r} (allowed: {allowed})",
        "contacts_import_title": "Contact import \"{source}\"",
        "contacts_import_dry_title": "Contact import dry run \"{source}\" (nothing written)",
        "outcome_created": "Created", "outcome_updated": "Updated",
        "outcome_unchanged": "Unchanged (imported before)",
        "outcome_skipped_suppressed": "Skipped: suppressed address",
        "outcome_skipped_no_consent": "Skipped: no consent",
        "outcome_invalid": "Invalid rows",
        "outcome_short_created": "created", "outcome_short_updated": "updated",
        "outcome_short_unchanged": "unchanged", "outcome_short_skipped_suppressed": "suppressed address",
        "outcome_short_skipped_no_consent": "no consent", "outcome_short_invalid": "invalid",
        "import_rows_title": "Rows to look at",
        "outcome": "Outcome", "column": "Column", "detail": "Detail",
        "duplicate_of": "same address as line {line}: updates the same contact",
        "no_consent_detail": "the row does not state consent (consent = yes and consent_at); import without "
                             "consent with --allow-without-consent",
        "import_progress": "Importing rows",
        "import_converted": "{file} is Windows-1250; it is sent converted to UTF-8.",
        "import_no_rows": "{file} has no rows under its header line.",
        "import_dry_hint": "Dry run: nothing was written. To import: the same command without --dry-run.",
        "contact_ids_truncated": "(first {count} ids listed)",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    """The wording of ``key`` in ``lang`` (English, then the key itself, when missing), formatted with ``values``."""
    text = _TEXT.get(lang, {}).get(key) or _TEXT["en"].get(key) or key
    return text.format(**values) if values else text


def reason_label(reason: str, lang: str = "cs") -> str:
    """``unsubscribed`` -> ``odhlášen z odběru`` (the product's label), the key itself when nobody words it."""
    key = f"reason_{reason}"
    for table in (DEFAULT_LABELS.get(lang, {}), _EXTRA_REASON_LABELS.get(lang, {})):
        if table.get(key):
            return table[key]
    return reason


def status_label(status: str, lang: str = "cs") -> str:
    return _STATUS.get(lang, _STATUS["en"]).get(status, status)


def number(value: object, lang: str = "cs") -> str:
    """``1200`` -> ``1 200`` in Czech, ``1,200`` in English; anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "–" if value is None else str(value)
    text = f"{value:,}"
    return text.replace(",", " ") if lang == "cs" else text


def percent(part: int, whole: int, lang: str = "cs") -> str:
    """``95 %`` (Czech typography) / ``95%``; empty when there is no whole."""
    if not whole:
        return ""
    value = round(100 * part / whole)
    return f"{value} %" if lang == "cs" else f"{value}%"


# --- reports (`crm report ...`, the HTML report) --------------------------------------------------------------

_TEXT["cs"].update({
    "not_given": "(neuvedeno)", "other": "Ostatní",
    "loss_title": "Důvody prohraných obchodů", "loss_reasons_title": "Důvody prohry",
    "loss_segments_title": "Podle segmentu: {by}",
    "loss_totals": "Prohráno {lost} ({lost_value}), vyhráno {won} ({won_value}), úspěšnost {win_rate}.",
    "lost": "Prohráno", "won": "Vyhráno", "win_rate": "Úspěšnost", "value": "Hodnota", 
    "lost_value": "Hodnota prohraných",
    "reasons": "Důvody", "no_lost": "V tomto období nejsou žádné prohrané obchody.",
    "by_industry": "obor", "by_owner": "obchodník", "by_product": "produkt", "by_month": "měsíc",
    "by_none": "bez členění",
    "period": "Období", "period_all": "celá historie",
    "retention_title": "Věrnost zákazníků", "customers": "Zákazníci", "orders": "Objednávky", "revenue": "Tržby",
    "returning_customers": "Vracející se zákazníci (2+ objednávky)", "repeat_rate": "Podíl opakovaných nákupů",
    "retained_customers": "Věrní zákazníci (3+ objednávky)", "retention_rate": "Míra retence (3+ objednávky)",
    "aov": "Průměrná objednávka", "aov_one_time": "Průměrná objednávka: jednorázoví",
    "aov_returning": "Průměrná objednávka: vracející se", "avg_gap_days": "Průměrný odstup nákupů (dny)",
    "groups_title": "Zákazníci podle počtu objednávek", "orders_count": "Počet objednávek",
    "share_customers": "Podíl zákazníků", "share_revenue": "Podíl tržeb",
    "no_customers": "V tomto období nejsou žádné nákupy.",
    "workflows_title": "Výsledky automatizací", "workflow": "Automatizace",
    "wf_enrolled": "Zařazené kontakty", "wf_tasks_created": "Úkoly vytvořené", "wf_tasks_completed": "Úkoly splněné",
    "wf_tasks_cancelled": "Úkoly zrušené", "wf_tasks_open": "Úkoly otevřené", "wf_emails_sent": "Odeslané e-maily",
    "wf_emails_skipped": "Přeskočené e-maily", "wf_reactions": "Reakce", "wf_reactions_wait": "Reakce během čekání",
    "wf_reactions_after": "Reakce po follow-upu", "wf_new_deals": "Nové obchody",
    "wf_new_deal_value": "Hodnota nových obchodů", "wf_won_deals": "Vyhrané obchody",
    "wf_won_value": "Hodnota vyhraných obchodů",
    "workflow_inactivity": "Neaktivní kontakty", "workflow_escalation": "Eskalace nespokojenosti",
    "workflow_deal_reactivation": "Reaktivace obchodů", "workflow_lead_scoring": "Kvalifikace leadů",
    "no_workflows": "V tomto období automatizace nic nezpracovaly.",
    "campaign_results_title": "Výsledky kampaní", "campaign": "Kampaň", "delivered": "Doručeno",
    "opened": "Otevřeno", "clicked": "Kliknuto", "bounced": "Nedoručitelné", "complained": "Stížnosti",
    "unsubscribed": "Odhlášeno", "opens": "Otevření", "clicks": "Kliknutí", "total": "Celkem",
    "suppressed_by_reason": "Vyřazeno podle důvodu",
    "no_campaigns_period": "V tomto období nebyly vytvořeny žádné kampaně.",
    "rate_delivery": "Doručitelnost", "rate_open": "Míra otevření", "rate_click": "Míra prokliku",
    "rate_bounce": "Míra nedoručitelnosti", "rate_complaint": "Míra stížností", "rate_unsubscribe": "Míra odhlášení",
    "report_title": "Report marketingu a obchodu", "generated": "Vytvořeno", "source": "Zdroj dat",
    "report_written": "Report uložen: {path}", "no_data": "Za toto období nejsou data.",
    "data_table": "Data grafu", "chart_share_desc": "Podíl důvodů prohry, {n} prohraných obchodů.",
    "per_segment": "Důvody podle segmentu: {by}", "days": "dní", "of_sent": "z odeslaných",
    "one_time": "jednorázoví", "returning": "vracející se", "avg_gap": "Průměrný odstup nákupů",
    "funnel_title": "Trychtýř kampaní", "nothing_sent": "Zatím nic neodesláno.",
    "funnel_desc": "Délka pruhu = podíl z odeslaných; doručitelnost z odeslaných, otevření a prokliky z doručených.",
    "aov_compare": "Průměrná objednávka: jednorázoví vs. vracející se",
    "customers_per_group": "Zákazníci podle počtu objednávek", "revenue_per_group": "Tržby podle počtu objednávek",
    "workflow_chart": "Zařazené kontakty, e-maily, reakce a nové obchody podle automatizace",
    "chart_desc_values": "Hodnoty jsou v tabulce pod grafem.", "contents": "Obsah",
    "footer": "Vygenerováno příkazem crm report html. Soubor je samostatný, otevře se i bez připojení.",
})
_TEXT["en"].update({
    "not_given": "(not given)", "other": "Other",
    "loss_title": "Why deals are lost", "loss_reasons_title": "Loss reasons",
    "loss_segments_title": "By segment: {by}",
    "loss_totals": "Lost {lost} ({lost_value}), won {won} ({won_value}), win rate {win_rate}.",
    "lost": "Lost", "won": "Won", "win_rate": "Win rate", "value": "Value", "lost_value": "Lost value",
    "reasons": "Reasons", "no_lost": "No lost deals in this period.",
    "by_industry": "industry", "by_owner": "owner", "by_product": "product", "by_month": "month", "by_none": "none",
    "period": "Period", "period_all": "all time",
    "retention_title": "Customer retention", "customers": "Customers", "orders": "Orders", "revenue": "Revenue",
    "returning_customers": "Returning customers (2+ orders)", "repeat_rate": "Repeat purchase rate",
    "retained_customers": "Loyal customers (3+ orders)", "retention_rate": "Retention rate (3+ orders)",
    "aov": "Average order value", "aov_one_time": "Average order: one-time",
    "aov_returning": "Average order: returning", "avg_gap_days": "Average gap between purchases (days)",
    "groups_title": "Customers by number of orders", "orders_count": "Orders per customer",
    "share_customers": "Share of customers", "share_revenue": "Share of revenue",
    "no_customers": "No purchases in this period.",
    "workflows_title": "Workflow results", "workflow": "Workflow",
    "wf_enrolled": "Contacts enrolled", "wf_tasks_created": "Tasks created", "wf_tasks_completed": "Tasks completed",
    "wf_tasks_cancelled": "Tasks cancelled", "wf_tasks_open": "Tasks open", "wf_emails_sent": "E-mails sent",
    "wf_emails_skipped": "E-mails skipped", "wf_reactions": "Reactions", "wf_reactions_wait": "Reactions while waiting",
    "wf_reactions_after": "Reactions after follow-up", "wf_new_deals": "New deals",
    "wf_new_deal_value": "New deal value", "wf_won_deals": "Deals won", "wf_won_value": "Won value",
    "workflow_inactivity": "Inactive contacts", "workflow_escalation": "Dissatisfaction escalation",
    "workflow_deal_reactivation": "Deal reactivation", "workflow_lead_scoring": "Lead qualification",
    "no_workflows": "The workflows handled nothing in this period.",
    "campaign_results_title": "Campaign results", "campaign": "Campaign", "delivered": "Delivered",
    "opened": "Opened", "clicked": "Clicked", "bounced": "Bounced", "complained": "Complaints",
    "unsubscribed": "Unsubscribed", "opens": "Opens", "clicks": "Clicks", "total": "Total",
    "suppressed_by_reason": "Suppressed by reason", "no_campaigns_period": "No campaigns were created in this period.",
    "rate_delivery": "Delivery rate", "rate_open": "Open rate", "rate_click": "Click rate",
    "rate_bounce": "Bounce rate", "rate_complaint": "Complaint rate", "rate_unsubscribe": "Unsubscribe rate",
    "report_title": "Marketing and sales report", "generated": "Generated", "source": "Data source",
    "report_written": "Report written: {path}", "no_data": "No data for this period.",
    "data_table": "Chart data", "chart_share_desc": "Share of loss reasons, {n} lost deals.",
    "per_segment": "Reasons by segment: {by}", "days": "days", "of_sent": "of sent",
    "one_time": "one-time", "returning": "returning", "avg_gap": "Average gap between purchases",
    "funnel_title": "Campaign funnels", "nothing_sent": "Nothing sent yet.",
    "funnel_desc": "Bar length = share of sent; delivery rate of sent, open and click rates of delivered.",
    "aov_compare": "Average order: one-time vs returning",
    "customers_per_group": "Customers by number of orders", "revenue_per_group": "Revenue by number of orders",
    "workflow_chart": "Contacts enrolled, e-mails, reactions and new deals by workflow",
    "chart_desc_values": "The figures are in the table under the chart.", "contents": "Contents",
    "footer": "Generated by crm report html. The file is self-contained and opens offline.",
})

WORKFLOWS = ("inactivity", "escalation", "deal_reactivation", "lead_scoring")


def workflow_label(workflow: str, lang: str = "cs") -> str:
    """``inactivity`` -> ``Neaktivní kontakty``; an unknown workflow as is."""
    return _TEXT.get(lang, _TEXT["en"]).get(f"workflow_{workflow}") or workflow


def _group(digits: str, lang: str) -> str:
    return f"{int(digits):,}".replace(",", " " if lang == "cs" else ",")


def money(amount: object, currency: str = "", lang: str = "cs") -> str:
    """``"150000.00", "CZK"`` -> ``150 000 CZK`` (``1 234,50 CZK`` with cents; ``1,234.50 CZK`` in English);
    ``–`` for nothing."""
    if amount is None or amount == "":
        return "–"
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(amount)
    sign = "-" if value < 0 else ""
    whole, _, cents = f"{abs(value):.2f}".partition(".")
    text = _group(whole, lang)
    if cents != "00":
        text += ("," if lang == "cs" else ".") + cents
    return f"{sign}{text} {currency}".strip()


def money_map(values: object, lang: str = "cs", sep: str = " + ") -> str:
    """``{"CZK": "10.00", "EUR": "5.00"}`` -> ``10 CZK + 5 EUR``; ``–`` for null or an empty map."""
    if not isinstance(values, dict) or not values:
        return "–"
    return sep.join(money(amount, str(currency), lang) for currency, amount in sorted(values.items()))


def rate(value: object, lang: str = "cs", places: int = 1) -> str:
    """A share as the API gives it (``0.375``) -> ``37,5 %`` / ``37.5%``; ``–`` for null."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    text = f"{100 * value:.{places}f}"
    return f"{text.replace('.', ',')} %" if lang == "cs" else f"{text}%"


def decimal(value: object, lang: str = "cs", places: int = 1) -> str:
    """``23.5`` -> ``23,5`` / ``23.5``; ``–`` for null."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    whole, _, frac = f"{abs(value):.{places}f}".partition(".")
    text = _group(whole, lang) + ((("," if lang == "cs" else ".") + frac) if frac else "")
    return ("-" if value < 0 else "") + text


def segment_label(value: object, lang: str = "cs") -> str:
    """A reason or segment as the API gives it: ``None``/``""`` is "not given"."""
    return t(lang, "not_given") if value is None or value == "" else str(value)
