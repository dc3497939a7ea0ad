"""The win-back campaign part of `make demo` (seed 000 §4): "all former customers whose loss reason was missing
feature A" — from the preview through the send window, the rate-limited send and SES feedback to a one-click
unsubscribe, and a second campaign's preview that leaves the unsubscribed and the bounced out.

Everything goes through the HTTP API and the emulated functions, as a marketer (or the `crm` CLI) would do it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

from rich.console import Console
from rich.table import Table

from crm_automation.labels import DEFAULT_LABELS
from crm_local import sample_data
from crm_local.http import ok as _ok

SEGMENT = f'lifecycle = former_customer and deal_loss_reason "{sample_data.WINBACK_LOSS_REASON}"'
WINDOW_OPENS = datetime(2026, 7, 1, 6, 15, tzinfo=UTC)  # Wednesday 1 July, 08:15 in Prague


def reason_label(reason: str) -> str:
    return DEFAULT_LABELS["cs"].get(f"reason_{reason}", reason)


def run_campaign_story(cloud: Any, note: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    imported = _ok(cloud.http("POST", "/suppressions", json={
        "entries": [{"email": a, "reason": "erased"} for a in sample_data.ERASED_ADDRESSES],
        "source": "gdpr-vymazani-2025"}), "suppression import")
    note(f"Importován seznam potlačených adres (výmazy GDPR ze starého CRM), nově přidané: {imported['added']}; "
         "uloženy jen jako jednosměrný otisk")
    created = _ok(cloud.http("POST", "/campaigns", json={
        "name": "Win-back: funkce A je tady", "template": "winback_feature_a", "segment_query": SEGMENT}),
        "campaign")
    campaign_id = created["campaign_id"]
    preview = _ok(cloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 1}), "preview")
    result |= {"campaign_id": campaign_id, "segment": created["segment_query"], "preview": preview}
    note(f"Kampaň „{created['name']}“, segment: {created['segment_query']} → náhled: {preview['audience']} v "
         f"segmentu, {preview['eligible']} dostane e-mail, {sum(preview['excluded'].values())} vynecháno")

    launched = _ok(cloud.http("POST", f"/campaigns/{campaign_id}/launch"), "launch")
    result["after_launch"] = _ok(cloud.http("GET", f"/campaigns/{campaign_id}"), "status")
    note(f"Spuštěno {cloud.clock.now():%d. %m. %Y} ve 20:00 – mimo okno odesílání (po–pá 8–18 h): "
         f"{result['after_launch']['progress']['waiting']} příjemců čeká na ráno (stav {launched['status']})")

    cloud.advance(WINDOW_OPENS - cloud.clock.now(), rate_resolution=None)
    sent = _ok(cloud.http("GET", f"/campaigns/{campaign_id}"), "status")
    result["sent"] = sent
    note(f"1. 7. v 8:00 se okno otevřelo: odeslané e-maily: {sent['progress']['sent']}, vynechané při odeslání: "
         f"{sent['progress']['suppressed']} (limit SES "
         f"{cloud.runtimes['CampaignSenderFunction'].environment['SES_MAX_SEND_RATE']}/s), stav {sent['status']}")

    # Recipients react: one opens and clicks, one unsubscribes with the mail client's one-click button
    clicker = "jitka.stastna@example.cz"
    message_id = cloud.message_ids_for(clicker)[-1]
    cloud.ses_event(message_id, "Open")
    cloud.ses_event(message_id, "Click", link="https://example.cz/funkce-a")
    note("Jitka Šťastná e-mail otevřela a klikla na odkaz (události SES Open/Click → aktivity, kontakt opět aktivní)")
    path = next(p for p in cloud.mail_files if "radek.pospisil" in p.name)
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    link = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"])).group(1)
    unsubscribe_path = "/u/" + link.split("/u/", 1)[1]
    page = cloud.http("GET", unsubscribe_path, token=None)
    done = cloud.http("POST", unsubscribe_path, body="List-Unsubscribe=One-Click", token=None,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    result["unsubscribe"] = {"file": path.name, "header": str(message["List-Unsubscribe"]),
                             "post_header": str(message["List-Unsubscribe-Post"]), "get_status": page.status,
                             "post_status": done.status, "confirmed": "jste odhlášeni" in done.body}
    note(f"Radek Pospíšil se odhlásil jedním kliknutím (POST {unsubscribe_path[:24]}…, HTTP {done.status}); "
         "zfalšovaný odkaz by dostal 400")
    result["final"] = _ok(cloud.http("GET", f"/campaigns/{campaign_id}"), "status")
    result["contacts"] = {key: _ok(cloud.http("GET", f"/contacts/story-{key}"), key)
                          for key in ("wb-clicks", "wb-unsubscribes", "wb-bounces")}

    # A second campaign to the same segment: the unsubscribed and the bounced are now left out
    second = _ok(cloud.http("POST", "/campaigns", json={
        "name": "Novinky červenec", "template": "newsletter", "segment_query": SEGMENT}), "second campaign")
    result["second_preview"] = _ok(cloud.http("POST", f"/campaigns/{second['campaign_id']}/preview",
                                              json={"samples": 0}), "second preview")
    note("Náhled další kampaně na stejný segment: odhlášený a nedoručitelný už jsou vynecháni")
    return result


def print_campaign_report(result: dict[str, Any], console: Console) -> None:
    preview = result["preview"]
    console.print(f"\nSegment kampaně win-back: {result['segment']}")
    table = Table(title="Kampaň win-back – náhled (nic neodesílá)", title_justify="left")
    table.add_column("Kdo")
    table.add_column("Počet", justify="right")
    table.add_row("v segmentu", str(preview["audience"]))
    table.add_row("dostane e-mail", str(preview["eligible"]))
    for reason, count in preview["excluded"].items():
        table.add_row(f"vynechán: {reason_label(reason)}", str(count))
    console.print(table)
    if preview["samples"]:
        sample = preview["samples"][0]
        console.print(f"Ukázka pro {sample['name']} <{sample['email']}>: „{sample['subject']}“")
        console.print("  " + "\n  ".join(sample["text"].splitlines()[:3]))
        console.print(f"  List-Unsubscribe: {sample['headers'].get('List-Unsubscribe', '')[:70]}…")
        console.print(f"  List-Unsubscribe-Post: {sample['headers'].get('List-Unsubscribe-Post')}")

    progress = result["final"]["progress"]
    table = Table(title="Kampaň win-back – výsledek", title_justify="left")
    for column in ("Stav", "Odesláno", "Vynecháno", "Chyby", "Čeká", "Doručeno", "Otevřeli", "Klikli", "Bounce",
                   "Odhlášeno"):
        table.add_column(column, justify="right")
    table.add_row(result["final"]["status"], *(str(progress[key]) for key in (
        "sent", "suppressed", "failed", "waiting", "delivered", "opened", "clicked", "bounced", "unsubscribed")))
    console.print(table)
    unsubscribe = result["unsubscribe"]
    console.print(f"Odhlášení: {unsubscribe['file']}  List-Unsubscribe-Post: {unsubscribe['post_header']}  "
                  f"GET → {unsubscribe['get_status']} (jen potvrzovací stránka), POST → {unsubscribe['post_status']}")
    second = result["second_preview"]
    reasons = ", ".join(f"{reason_label(r)} {n}" for r, n in second["excluded"].items())
    console.print(f"Další kampaň na stejný segment: {second['eligible']} z {second['audience']} dostane e-mail; "
                  f"vynecháno: {reasons}")
