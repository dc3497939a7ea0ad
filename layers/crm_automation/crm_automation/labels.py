"""Default user-facing labels per locale. Any of them can be overridden without code via the LABELS setting
(a JSON object, e.g. LABELS='{"inactive_tag": "Spí 6m+"}')."""

from __future__ import annotations

from crm_automation.domain.models import SatisfactionLevel

# The satisfaction ("Spokojenost") picklist and where each value sits. Override with SATISFACTION_SCALE (JSON).
DEFAULT_SATISFACTION_SCALES: dict[str, dict[str, SatisfactionLevel]] = {
    "cs": {
        "Vysoká spokojenost": SatisfactionLevel.POSITIVE,
        "Spokojenost": SatisfactionLevel.POSITIVE,
        "Neutrální": SatisfactionLevel.NEUTRAL,
        "Nespokojenost": SatisfactionLevel.NEGATIVE,
        "Vysoká nespokojenost": SatisfactionLevel.CRITICAL,
    },
    "en": {
        "Very satisfied": SatisfactionLevel.POSITIVE,
        "Satisfied": SatisfactionLevel.POSITIVE,
        "Neutral": SatisfactionLevel.NEUTRAL,
        "Dissatisfied": SatisfactionLevel.NEGATIVE,
        "Very dissatisfied": SatisfactionLevel.CRITICAL,
    },
}

DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "cs": {
        "inactive_tag": "Neaktivní 6m+",
        "inactivity_task_title": "Prověřit neaktivní kontakt {name}",
        "inactivity_task_description": (
            "Kontakt {name} nemá žádnou aktivitu {days} dní (poslední {last_activity}) a nemá otevřený obchod. "
            "Ozvěte se mu nebo aktualizujte údaje. Pokud se do {followup_date} nic nezmění, {followup_action}"
        ),
        "followup_action_email": "odejde mu automatický reaktivační e-mail.",
        "followup_action_vip": "dostanete úkol osobně zavolat (VIP klient, žádný automatický e-mail).",
        "followup_action_archive": "kontakt bude navržen k archivaci (poslední e-mail se vrátil).",
        "followup_action_none": "žádný automatický e-mail nepůjde ({reason}).",
        "vip_call_task_title": "Osobně zavolat VIP klientovi {name}",
        "vip_call_task_description": (
            "VIP klient {name} (celkové tržby {revenue}) je neaktivní {days} dní a na úkol „Prověřit neaktivní kontakt“ "
            "nikdo nereagoval. Zavolejte mu osobně, automatický e-mail se VIP klientům neposílá."
        ),
        "archive_proposed_category": "Návrh k archivaci",
        "reason_bounced": "poslední e-mail se vrátil jako nedoručitelný",
        "reason_do_not_contact": "Nezasílat marketing",
        "reason_unsubscribed": "odhlášen z odběru",
        "reason_no_consent": "bez souhlasu s marketingem",
        "reason_complaint": "stížnost na e-mail",
        "reason_archived": "archivován",
        "reason_no_email": "bez e-mailové adresy",
        "reason_marketing_paused": "marketing pozastaven (eskalace nespokojenosti)",
        "reason_erased": "vymazán (GDPR)",
        "reason_frequency_cap": "dosažen týdenní limit e-mailů",
        "reason_duplicate": "stejná adresa u jiného kontaktu (jeden e-mail na adresu)",
        "escalation_category": "Nutno řešit",
        "escalation_task_title": "Prověřit situaci u klienta {client}",
        "escalation_task_intro": (
            "Klient {client} ({name}, vlastník {owner}) hodnotí spokojenost jako „{satisfaction}“ ({rated}, {rated_by}). "
            "Marketingové e-maily jsou mu pozastaveny, dokud situaci nevyřešíte. Až bude vyřešeno, dokončete úkol "
            "s příznakem „vyřešeno“ nebo změňte spokojenost."
        ),
        "escalation_complaints_heading": "Stížnosti a tikety za posledních {days} dní:",
        "escalation_no_complaints": "Stížnosti a tikety: za posledních {days} dní žádné.",
        "escalation_deals_heading": "Otevřené obchody:",
        "escalation_no_deals": "Otevřené obchody: žádné.",
        "escalation_pause_reason": "Eskalace nespokojenosti {escalation_id}: „{satisfaction}“",
        "escalation_task_closed": "Vyřešeno bez úkolu: spokojenost změněna na „{satisfaction}“ ({by}).",
        "rated_by_ticket": "z tiketu",
        "rated_by_user": "zadal {user}",
        "kind_ticket": "Tiket",
        "kind_complaint": "Stížnost",
        "deal_status_open": "otevřený",
        "deal_status_postponed": "odloženo",
        "deal_status_paused": "pozastaveno",
        "last_activity_on": "poslední aktivita {date}",
        "deal_call_task_title": "Reaktivační hovor - Klient {name} nereagoval na e-mail.",
        "deal_call_task_description": (
            "Prosím, kontaktuj telefonicky klienta {name}. Poslední aktivita před {days} dny. "
            "Odeslán automatický e-mail před {wait} dny bez reakce."
        ),
        "deal_call_task_title_no_email": "Reaktivační hovor - Klient {name}: e-mail nešel ({reason}).",
        "deal_call_task_description_no_email": (
            "Prosím, kontaktuj telefonicky klienta {name}. Poslední aktivita před {days} dny. "
            "Automatický reaktivační e-mail nebyl odeslán: {reason}."
        ),
        "deal_context": "Obchod: {title} ({value}, {status}).",
        "reason_email_failed": "e-mail odmítnut při odeslání",
        # lead scoring (domain/scoring.py)
        "qualified_task_title": "Kvalifikovaný lead: {name} – ozvat se",
        "qualified_task_description": (
            "Lead {name} dosáhl lead skóre {score} (práh kvalifikace {threshold}). Zdroj: {source}. "
            "Ozvěte se mu, dokud je zájem čerstvý."
        ),
        "qualified_source_unknown": "neuveden",
    },
    "en": {
        "inactive_tag": "Inactive 6m+",
        "inactivity_task_title": "Review inactive contact {name}",
        "inactivity_task_description": (
            "Contact {name} has had no activity for {days} days (last {last_activity}) and has no open deal. "
            "Get in touch or update the record. If nothing changes by {followup_date}, {followup_action}"
        ),
        "followup_action_email": "an automated reactivation e-mail goes out.",
        "followup_action_vip": "you get a task to call personally (VIP client, no automated e-mail).",
        "followup_action_archive": "the contact is proposed for archiving (the last e-mail bounced).",
        "followup_action_none": "no automated e-mail will go out ({reason}).",
        "vip_call_task_title": "Call VIP client {name} personally",
        "vip_call_task_description": (
            "VIP client {name} (lifetime revenue {revenue}) has been inactive for {days} days and nobody acted on the "
            "review task. Call them personally; VIP clients never get the automated e-mail."
        ),
        "archive_proposed_category": "Proposed for archiving",
        "reason_bounced": "the last e-mail bounced",
        "reason_do_not_contact": "do not contact",
        "reason_unsubscribed": "unsubscribed",
        "reason_no_consent": "no marketing consent",
        "reason_complaint": "complained about an e-mail",
        "reason_archived": "archived",
        "reason_no_email": "no e-mail address",
        "reason_marketing_paused": "marketing paused (dissatisfaction escalation)",
        "reason_erased": "erased (GDPR)",
        "reason_frequency_cap": "weekly e-mail limit reached",
        "reason_duplicate": "same address as another contact (one e-mail per address)",
        "escalation_category": "Needs attention",
        "escalation_task_title": "Review the situation at client {client}",
        "escalation_task_intro": (
            "Client {client} ({name}, owner {owner}) rates satisfaction as \"{satisfaction}\" ({rated}, {rated_by}). "
            "Marketing e-mails to them are paused until you resolve the situation. When it is resolved, complete this "
            "task marked \"resolved\" or change the satisfaction."
        ),
        "escalation_complaints_heading": "Complaints and tickets in the last {days} days:",
        "escalation_no_complaints": "Complaints and tickets: none in the last {days} days.",
        "escalation_deals_heading": "Open deals:",
        "escalation_no_deals": "Open deals: none.",
        "escalation_pause_reason": "Dissatisfaction escalation {escalation_id}: \"{satisfaction}\"",
        "escalation_task_closed": "Resolved without the task: satisfaction changed to \"{satisfaction}\" ({by}).",
        "rated_by_ticket": "from a ticket",
        "rated_by_user": "set by {user}",
        "kind_ticket": "Ticket",
        "kind_complaint": "Complaint",
        "deal_status_open": "open",
        "deal_status_postponed": "postponed",
        "deal_status_paused": "paused",
        "last_activity_on": "last activity {date}",
        "deal_call_task_title": "Reactivation call - client {name} did not answer the e-mail.",
        "deal_call_task_description": (
            "Please call client {name}. Last activity {days} days ago. "
            "An automated e-mail was sent {wait} days ago without a reply."
        ),
        "deal_call_task_title_no_email": "Reactivation call - client {name}: no e-mail sent ({reason}).",
        "deal_call_task_description_no_email": (
            "Please call client {name}. Last activity {days} days ago. "
            "The automated reactivation e-mail was not sent: {reason}."
        ),
        "deal_context": "Deal: {title} ({value}, {status}).",
        "reason_email_failed": "e-mail refused when sending",
        # lead scoring (domain/scoring.py)
        "qualified_task_title": "Qualified lead: {name} – get in touch",
        "qualified_task_description": (
            "Lead {name} reached a lead score of {score} (qualification threshold {threshold}). Source: {source}. "
            "Get in touch while the interest is fresh."
        ),
        "qualified_source_unknown": "unknown",
    },
}
