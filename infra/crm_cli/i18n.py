"""Czech (default) and English wording of the CLI.

Exclusion/suppression reasons use the product's own labels (``reason_<key>`` in
:data:`crm_automation.labels.DEFAULT_LABELS`), so the CLI says what the CRM says; the few reasons that module does
not word yet are worded here, and an unknown key is shown as is.
"""

from __future__ import annotations

from crm_automation.labels import DEFAULT_LABELS

__all__ = ["LANGS", "REASONS", "STATUS_STYLES", "number", "percent", "reason_label", "status_label", "t"]

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
