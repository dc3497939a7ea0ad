"""Issue #7 "done when": the report figures against expectations computed by hand on a small fixed data set.

The data set goes in through the HTTP API of the emulated template, with the clock moved where the story needs it;
the figures come back from `GET /reports/*`. Every expected figure below is written out by hand, with its arithmetic
in a comment; nothing is computed with the code under test.

The data set (Prague months; values in CZK unless said otherwise):

Deals (`DEALS#` cube): four company contacts in two industries, two owners, two products.

| deal | industry       | owner  | product | status | reason                 | value     | closed (UTC)         |
|------|----------------|--------|---------|--------|------------------------|-----------|----------------------|
| d01  | Strojírenství  | petr   | Pro     | lost   | Cena                   | 50 000    | 2026-01-15 10:00     |
| d02  | Strojírenství  | petr   | Basic   | lost   | Cena                   | 40 000    | 2026-01-20 10:00     |
| d03  | Gastronomie    | jana   | Basic   | lost   | Cena                   | 60 000    | 2026-02-10 10:00     |
| d04  | Strojírenství  | jana   | Pro     | lost   | Pomalá reakce servisu  | 120 000   | 2026-02-12 10:00     |
| d05  | Gastronomie    | petr   | Pro     | lost   | Chybějící funkce A     | 30 000    | 2026-02-20 10:00     |
| d06  | Strojírenství  | petr   | Pro     | lost   | Vybrali konkurenci     | 2 000 EUR | 2026-02-25 10:00     |
| d07  | Gastronomie    | jana   | Basic   | lost   | Cena -> Vybrali konk.  | 25 000    | 2026-01-28 10:00     |
| d08  | Strojírenství  | jana   | Basic   | lost   | Chybějící funkce A     | 45 000    | 2026-02-05 10:00 (1) |
| d09  | Strojírenství  | petr   | Basic   | lost   | Cena                   | 35 000    | 2026-03-31 22:30 (2) |
| d10  | Gastronomie    | jana   | Pro     | lost   | (not given)            | 15 000    | 2026-02-27 10:00     |
| w01  | Strojírenství  | petr   | Pro     | won    |                        | 200 000   | 2026-01-30 10:00     |
| w02  | Gastronomie    | jana   | Basic   | won    |                        | 80 000    | 2026-02-15 10:00     |
| w03  | Gastronomie    | petr   | Basic   | won    |                        | 1 000 EUR | 2026-02-18 10:00     |
| dr1  | (none)         | petr   | Pro     | won    |                        | 90 000    | 2026-03-20 09:00 (3) |

(1) reopened later: not counted. (2) open until the clock reaches 31 March 22:30 UTC = 1 April 00:30 in Prague: an
April loss. (3) postponed on 2 March -> the reactivation e-mail -> the client's reply -> won.

(d01, d06, d08, w01: contact s1; d02, d04, d09: s2; d03, d07, w02: g1; d05, d10, w03: g2 whose industry is in
custom_fields, the others' in company_fields.)

Purchases (retention), all at 10:00Z except R2's:

| customer | purchases (UTC date: amount)                                                               |
|----------|--------------------------------------------------------------------------------------------|
| r1       | 2026-02-10: 1 000; 2026-04-02: 1 000 (entered in April)                                    |
| r2       | 2026-01-31 23:30Z = 1 February 00:30 Prague: 3 000                                         |
| r3       | 2025-12-15: 2 000; 2026-01-14: 2 000                                                       |
| r4       | 2026-01-05: 1 500; 2026-02-04: 1 500; 2026-03-01: 1 500                                    |
| r5       | 2025-11-20: 4 000; 2026-01-10: 2 500; 2026-02-15: 2 500; 2026-02-25: 3 000                 |
| r6       | 2025-10-01: 800; 2025-12-01: 1 200; 2026-01-20: 1 000; 2026-02-20: 1 000; 2026-03-01: 1 000 |

Workflows (clock from Monday 2 March 2026 05:00 Prague):
- inactivity: three contacts quiet for 200+ days are enrolled by the first daily scan (2 March, three review tasks);
  sleeper-wait replies on 10 March (within the 30-day wait) and opens a 70 000 deal on 12 March (attributed);
  sleeper-owner's review task is completed on 5 March (owner acted, no e-mail); sleeper-after gets the follow-up
  e-mail on 1 April and replies on 2 April (after the wait).
- deal_reactivation: dr1 postponed on 2 March -> personal e-mail, the client replies on 4 March, won on 20 March;
  dr2 (contact does not want marketing) postponed -> e-mail skipped, call task at once, completed on 5 March.
- escalation: a helpdesk ticket rating a client very unhappy (5 March) -> the team lead's task, completed resolved.
- lead_scoring: nothing.

Campaign (send window "always"): 8 former customers in the segment: 1 unsubscribed and 1 without consent are left
out, 6 sent: one bounces (simulator), one complains (simulator, delivered first), one opens and clicks, one opens
twice, one unsubscribes with the one-click link, one just receives it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_local import LocalCloud

from .conftest import ROOT, START

OWNERS = {"petr.svoboda": {"name": "Petr Svoboda", "email": "petr.svoboda@example.cz"},
          "jana.dvorakova": {"name": "Jana Dvořáková", "email": "jana.dvorakova@example.cz"}}
TEAM_LEADS = {"petr.svoboda": "marie.kralova", "jana.dvorakova": "marie.kralova"}
PUBLIC_URL = "https://crm.example.cz"
PETR, JANA = "petr.svoboda", "jana.dvorakova"
S, G = "Strojírenství", "Gastronomie"
CENA, SERVIS, FUNKCE, KONKURENCE = "Cena", "Pomalá reakce servisu", "Chybějící funkce A", "Vybrali konkurenci"
CONSENT = {"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web-form"}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ok(response: Any, what: str) -> Any:
    assert response.status < 300, f"{what}: {response.status} {response.body}"
    return response.json() if response.body.startswith(("{", "[")) else response.body


# ---------------------------------------------------------------- the data set

def _contact(cloud: LocalCloud, contact_id: str, owner: str, *, quiet_days: int = 10, **extra: Any) -> None:
    payload = {"contact_id": contact_id, "first_name": "Jana", "last_name": f"Nováková {contact_id}",
               "email": f"{contact_id}@example.cz", "owner": owner, "lifecycle": "customer",
               "marketing_consent": CONSENT, "created_at": (START - timedelta(days=700)).isoformat(),
               "last_activity_at": (START - timedelta(days=quiet_days)).isoformat()} | extra
    _ok(cloud.http("POST", "/contacts", json=payload), f"contact {contact_id}")


# deal id, contact, owner, product, status, reason, value, currency, closed_at
CLOSED_DEALS = [
    ("d01", "s1", PETR, "Pro", "lost", CENA, 50000, "CZK", "2026-01-15T10:00:00Z"),
    ("d02", "s2", PETR, "Basic", "lost", CENA, 40000, "CZK", "2026-01-20T10:00:00Z"),
    ("d03", "g1", JANA, "Basic", "lost", CENA, 60000, "CZK", "2026-02-10T10:00:00Z"),
    ("d04", "s2", JANA, "Pro", "lost", SERVIS, 120000, "CZK", "2026-02-12T10:00:00Z"),
    ("d05", "g2", PETR, "Pro", "lost", FUNKCE, 30000, "CZK", "2026-02-20T10:00:00Z"),
    ("d06", "s1", PETR, "Pro", "lost", KONKURENCE, 2000, "EUR", "2026-02-25T10:00:00Z"),
    ("d07", "g1", JANA, "Basic", "lost", CENA, 25000, "CZK", "2026-01-28T10:00:00Z"),  # reason changed later
    ("d08", "s1", JANA, "Basic", "lost", FUNKCE, 45000, "CZK", "2026-02-05T10:00:00Z"),  # reopened later
    ("d10", "g2", JANA, "Pro", "lost", None, 15000, "CZK", "2026-02-27T10:00:00Z"),
    ("w01", "s1", PETR, "Pro", "won", None, 200000, "CZK", "2026-01-30T10:00:00Z"),
    ("w02", "g1", JANA, "Basic", "won", None, 80000, "CZK", "2026-02-15T10:00:00Z"),
    ("w03", "g2", PETR, "Basic", "won", None, 1000, "EUR", "2026-02-18T10:00:00Z"),
]

PURCHASES = {
    "r1": [("2026-02-10T10:00:00Z", 1000)],  # + 2026-04-02T10:00:00Z 1000, entered in April
    "r2": [("2026-01-31T23:30:00Z", 3000)],  # 1 February 00:30 in Prague
    "r3": [("2025-12-15T10:00:00Z", 2000), ("2026-01-14T10:00:00Z", 2000)],
    "r4": [("2026-01-05T10:00:00Z", 1500), ("2026-02-04T10:00:00Z", 1500), ("2026-03-01T10:00:00Z", 1500)],
    "r5": [("2025-11-20T10:00:00Z", 4000), ("2026-01-10T10:00:00Z", 2500), ("2026-02-15T10:00:00Z", 2500),
           ("2026-02-25T10:00:00Z", 3000)],
    "r6": [("2025-10-01T10:00:00Z", 800), ("2025-12-01T10:00:00Z", 1200), ("2026-01-20T10:00:00Z", 1000),
           ("2026-02-20T10:00:00Z", 1000), ("2026-03-01T10:00:00Z", 1000)],
}


def _advance(cloud: LocalCloud, to: datetime) -> None:
    cloud.advance(to - cloud.clock.now(), rate_resolution=timedelta(hours=6))


def _task(cloud: LocalCloud, contact_id: str, workflow: str) -> dict[str, Any]:
    tasks = cloud.items("TasksTable")
    found = [t for t in tasks if t.get("contact_id") == contact_id and t.get("workflow") == workflow]
    assert len(found) == 1, (contact_id, workflow, [(t.get("contact_id"), t.get("workflow")) for t in tasks])
    return found[0]


def _complete(cloud: LocalCloud, task: dict[str, Any], **extra: Any) -> None:
    _ok(cloud.http("POST", f"/tasks/{task['task_id']}/complete", json={"resolution": "Vyřízeno", **extra}),
        "task completion")


def _campaign(cloud: LocalCloud) -> str:
    for key, extra in (("c-reader", {}), ("c-reader2", {}), ("c-plain", {}), ("c-unsub-later", {}),
                       ("c-bounce", {"email": "bounce@simulator.amazonses.com"}),
                       ("c-complaint", {"email": "complaint@simulator.amazonses.com"}),
                       ("c-unsubscribed", {"marketing_status": "unsubscribed"}),
                       ("c-no-consent", {"marketing_consent": None})):
        _contact(cloud, key, PETR, lifecycle="former_customer", quiet_days=30, **extra)
    campaign_id = _ok(cloud.http("POST", "/campaigns", json={
        "name": "Jarní novinky", "template": "newsletter", "segment_query": "lifecycle = former_customer"}),
        "campaign")["campaign_id"]
    _ok(cloud.http("POST", f"/campaigns/{campaign_id}/launch"), "launch")
    reader = cloud.message_ids_for("c-reader@example.cz")[0]
    cloud.ses_event(reader, "Open")
    cloud.ses_event(reader, "Click", link="https://example.cz/novinky")
    reader2 = cloud.message_ids_for("c-reader2@example.cz")[0]
    cloud.ses_event(reader2, "Open")
    cloud.advance(timedelta(minutes=5))
    cloud.ses_event(reader2, "Open")  # the same recipient opens it again later: 2 opens, 1 unique
    message = next(m for m in cloud.mail_messages if str(m["To"].addresses[0].addr_spec) == "c-unsub-later@example.cz")
    path = re.search(r"<https://crm\.example\.cz(/u/[^>]+)>", str(message["List-Unsubscribe"])).group(1)
    _ok(cloud.http("POST", path, body="List-Unsubscribe=One-Click", token=None,
                   headers={"content-type": "application/x-www-form-urlencoded"}), "unsubscribe")
    return campaign_id


def _loss(cloud: LocalCloud, **query: str) -> dict[str, Any]:
    return _ok(cloud.http("GET", "/reports/loss-reasons", query=query), f"loss reasons {query}")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("reports")
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=out / "out", quiet=True,
                    parameters={"Owners": json.dumps(OWNERS), "TeamLeads": json.dumps(TEAM_LEADS),
                                "PublicBaseUrl": PUBLIC_URL, "SendWindow": "always"}) as cloud:
        yield _build(cloud)


def _build(cloud: LocalCloud) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    # 2 March 05:00 Prague: the CRM is imported
    _contact(cloud, "s1", PETR, company="Strojírny Brno s.r.o.", company_fields={"industry": S})
    _contact(cloud, "s2", JANA, company="Kovo Zlín a.s.", company_fields={"industry": S})
    _contact(cloud, "g1", JANA, company="Restaurace U Lípy", company_fields={"industry": G})
    _contact(cloud, "g2", PETR, company="Pekárna Kolín", custom_fields={"industry": G})  # the fallback field
    for deal_id, contact_id, owner, product, status, reason, value, currency, closed_at in CLOSED_DEALS:
        closed = _utc(closed_at)
        _ok(cloud.http("POST", "/deals", json={
            "deal_id": deal_id, "contact_id": contact_id, "owner": owner, "title": f"Licence {product}",
            "product": product, "status": status, "value": value, "currency": currency,
            **({"loss_reason": reason} if reason else {}), "closed_at": closed_at,
            "created_at": (closed - timedelta(days=20)).isoformat(), "last_activity_at": closed_at}), deal_id)
    _ok(cloud.http("POST", "/deals", json={
        "deal_id": "d09", "contact_id": "s2", "owner": PETR, "title": "Licence Basic", "product": "Basic",
        "value": 35000, "last_activity_at": (START - timedelta(days=5)).isoformat()}), "d09")
    for customer, purchases in PURCHASES.items():
        _contact(cloud, customer, PETR)
        for n, (at, amount) in enumerate(purchases):
            _ok(cloud.http("POST", "/activities", json={
                "activity_id": f"{customer}-p{n}", "contact_id": customer, "kind": "purchase", "amount": amount,
                "occurred_at": at, "subject": "Objednávka"}), f"purchase {customer}")
    seen["loss_before"] = _loss(cloud, **{"from": "2026-01", "to": "2026-04", "by": "none"})
    # the reason of d07 is corrected, and d08 is reopened
    _ok(cloud.http("PATCH", "/deals/d07", json={"loss_reason": KONKURENCE}), "reason change")
    _ok(cloud.http("PATCH", "/deals/d08", json={"status": "open"}), "reopen")

    # workflow contacts
    for key, owner in (("sleeper-wait", PETR), ("sleeper-after", PETR), ("sleeper-owner", JANA)):
        _contact(cloud, key, owner, quiet_days=200)
    _contact(cloud, "waker", PETR, company="Malá Design")
    _contact(cloud, "dnc", JANA, marketing_status="do_not_contact")
    _contact(cloud, "unhappy", PETR, company="Strojírna Beneš s.r.o.")
    for deal_id, contact_id, product, value in (("dr1", "waker", "Pro", 90000), ("dr2", "dnc", "Basic", 20000)):
        _ok(cloud.http("POST", "/deals", json={
            "deal_id": deal_id, "contact_id": contact_id, "title": f"Licence {product}", "product": product,
            "value": value, "last_activity_at": (START - timedelta(days=20)).isoformat()}), deal_id)

    seen["campaign_id"] = _campaign(cloud)

    # 06:00 Prague: the first daily scan enrols the three sleepers
    _advance(cloud, datetime(2026, 3, 2, 5, 1, tzinfo=UTC))
    for deal_id in ("dr1", "dr2"):
        _ok(cloud.http("PATCH", f"/deals/{deal_id}", json={"status": "postponed"}), "postpone")
    _advance(cloud, datetime(2026, 3, 4, 9, 0, tzinfo=UTC))  # dr1's e-mail went; dr2's call task is there
    _ok(cloud.http("POST", "/activities", json={"contact_id": "waker", "kind": "email_in",
                                                "subject": "Re: Licence Pro"}), "waker reply")
    _advance(cloud, datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    _complete(cloud, _task(cloud, "dnc", "deal_reactivation"))
    _complete(cloud, _task(cloud, "sleeper-owner", "inactivity"))
    _ok(cloud.http("POST", "/activities", json={"contact_id": "unhappy", "kind": "ticket", "subject": "Linka stojí",
                                                "satisfaction": "Vysoká nespokojenost"}), "ticket")
    _advance(cloud, datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    _complete(cloud, _task(cloud, "unhappy", "escalation"), resolved=True)
    _advance(cloud, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    _ok(cloud.http("POST", "/activities", json={"contact_id": "sleeper-wait", "kind": "email_in",
                                                "subject": "Re: Dlouho jsme se neslyšeli"}), "reply in the wait")
    _advance(cloud, datetime(2026, 3, 12, 9, 0, tzinfo=UTC))
    _ok(cloud.http("POST", "/deals", json={"deal_id": "dn1", "contact_id": "sleeper-wait", "title": "Licence Basic",
                                           "product": "Basic", "value": 70000}), "new deal")
    _advance(cloud, datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    _ok(cloud.http("PATCH", "/deals/dr1", json={"status": "won"}), "dr1 won")
    # 31 March 22:30 UTC is 1 April 00:30 in Prague (CEST): the loss belongs to April
    _advance(cloud, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    seen["d09"] = _ok(cloud.http("PATCH", "/deals/d09", json={"status": "lost", "loss_reason": CENA}), "d09 lost")
    # 1 April: the 30-day follow-ups (sleeper-after gets the e-mail); 2 April she replies and r1 buys again
    _advance(cloud, datetime(2026, 4, 2, 10, 0, tzinfo=UTC))
    _ok(cloud.http("POST", "/activities", json={"contact_id": "sleeper-after", "kind": "email_in",
                                                "subject": "Re: Dlouho jsme se neslyšeli"}), "reply after")
    _ok(cloud.http("POST", "/activities", json={"activity_id": "r1-p1", "contact_id": "r1", "kind": "purchase",
                                                "amount": 1000, "occurred_at": "2026-04-02T10:00:00Z"}), "r1")
    _advance(cloud, datetime(2026, 4, 2, 12, 0, tzinfo=UTC))
    seen["contacts"] = {c["contact_id"]: c for c in cloud.items("ContactsTable")}
    seen["deals"] = {d["deal_id"]: d for d in cloud.items("DealsTable")}
    seen["tasks"] = cloud.items("TasksTable")
    seen["cloud"] = cloud
    return seen


# ---------------------------------------------------------------- the story went as planned (preconditions)


def test_the_story_itself_went_as_planned(story) -> None:
    contacts, deals = story["contacts"], story["deals"]
    assert contacts["sleeper-wait"]["inactivity"]["outcome"] == "reactivated"
    assert contacts["sleeper-owner"]["inactivity"]["outcome"] == "owner_acted"
    after = contacts["sleeper-after"]["inactivity"]
    assert (after["state"], after["outcome"]) == ("exited", "email_sent")
    dr1 = deals["dr1"]["reactivation"]
    assert (dr1["email"], dr1["outcome"], deals["dr1"]["status"]) == ("sent", "reaction", "won")
    assert deals["dr2"]["reactivation"]["email"] == "skipped"
    assert deals["d09"]["closed_at"].startswith("2026-03-31T22:30") and deals["d08"].get("closed_at") is None
    assert deals["dn1"]["attribution"]["workflow"] == "inactivity"
    assert sorted((t["workflow"], t["status"]) for t in story["tasks"]) == [
        ("deal_reactivation", "done"), ("escalation", "done"),
        ("inactivity", "done"), ("inactivity", "open"), ("inactivity", "open")]


# ---------------------------------------------------------------- loss reasons


def _by(items: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_loss_reasons_before_the_corrections(story) -> None:
    report = story["loss_before"]
    # Before d07's reason was changed and d08 reopened, d09 still open and dr1 not won:
    # lost d01..d08 + d10 = 9; CZK 50+40+60+120+30+25+45+15 = 385 000, EUR 2 000 (d06)
    # won w01, w02, w03 = 3: CZK 200 000 + 80 000 = 280 000, EUR 1 000; win rate 3 / (3 + 9) = 0.25
    assert report["totals"] == {"lost": 9, "won": 3, "win_rate": 0.25,
                                "lost_value": {"CZK": "385000.00", "EUR": "2000.00"},
                                "won_value": {"CZK": "280000.00", "EUR": "1000.00"}}
    assert report["segments"] == []
    reasons = _by(report["reasons"], "reason")
    # Cena: d01, d02, d03, d07 = 4 of 9 = 0.4444; 50 000 + 40 000 + 60 000 + 25 000 = 175 000
    assert reasons[CENA] == {"reason": CENA, "lost": 4, "share": 0.4444, "value": {"CZK": "175000.00"}}
    # Chybějící funkce A: d05, d08 = 2 of 9 = 0.2222; 30 000 + 45 000 = 75 000
    assert reasons[FUNKCE] == {"reason": FUNKCE, "lost": 2, "share": 0.2222, "value": {"CZK": "75000.00"}}
    # Vybrali konkurenci: d06 only = 1 of 9 = 0.1111; EUR 2 000
    assert reasons[KONKURENCE] == {"reason": KONKURENCE, "lost": 1, "share": 0.1111, "value": {"EUR": "2000.00"}}
    assert [r["reason"] for r in report["reasons"]][:2] == [CENA, FUNKCE]


def test_loss_reasons_in_total_after_the_reason_change_the_reopening_and_the_april_loss(story) -> None:
    cloud = story["cloud"]
    report = _loss(cloud, **{"from": "2026-01", "to": "2026-04", "by": "none"})
    # lost: d01 50k, d02 40k, d03 60k, d04 120k, d05 30k, d06 EUR 2 000, d07 25k, d09 35k, d10 15k = 9
    #   (d08 reopened: out); CZK 50+40+60+120+30+25+35+15 = 375 000
    # won: w01 200k, w02 80k, w03 EUR 1 000, dr1 90k = 4; CZK 200 000 + 80 000 + 90 000 = 370 000
    # win rate 4 / (4 + 9) = 0.30769 -> 0.3077
    assert report["from"] == "2026-01" and report["to"] == "2026-04" and report["by"] == "none"
    assert report["totals"] == {"lost": 9, "won": 4, "win_rate": 0.3077,
                                "lost_value": {"CZK": "375000.00", "EUR": "2000.00"},
                                "won_value": {"CZK": "370000.00", "EUR": "1000.00"}}
    assert report["segments"] == []
    assert _by(report["reasons"], "reason") == {
        # Cena: d01, d02, d03, d09 = 4 of 9 = 0.4444; 50 000 + 40 000 + 60 000 + 35 000 = 185 000
        CENA: {"reason": CENA, "lost": 4, "share": 0.4444, "value": {"CZK": "185000.00"}},
        # Vybrali konkurenci: d06 (EUR 2 000) and d07 (changed from Cena, 25 000) = 2 of 9 = 0.2222
        KONKURENCE: {"reason": KONKURENCE, "lost": 2, "share": 0.2222, "value": {"CZK": "25000.00", "EUR": "2000.00"}},
        # Chybějící funkce A: d05 30 000 (d08 reopened) = 1 of 9 = 0.1111
        FUNKCE: {"reason": FUNKCE, "lost": 1, "share": 0.1111, "value": {"CZK": "30000.00"}},
        # Pomalá reakce servisu: d04 120 000 = 1 of 9
        SERVIS: {"reason": SERVIS, "lost": 1, "share": 0.1111, "value": {"CZK": "120000.00"}},
        # not given: d10 15 000 = 1 of 9
        None: {"reason": None, "lost": 1, "share": 0.1111, "value": {"CZK": "15000.00"}},
    }
    # sorted by lost desc, then name (the reason not given may sit anywhere among the ties)
    assert [r["reason"] for r in report["reasons"] if r["reason"]] == [CENA, KONKURENCE, FUNKCE, SERVIS]


def test_loss_reasons_by_industry(story) -> None:
    report = _loss(story["cloud"], **{"from": "2026-01", "to": "2026-04", "by": "industry"})
    segments = _by(report["segments"], "segment")
    # Strojírenství (s1, s2): lost d01 Cena 50k, d02 Cena 40k, d04 Servis 120k, d06 Konkurence EUR 2 000,
    # d09 Cena 35k = 5; won w01 = 1; win rate 1 / 6 = 0.1667; CZK 50 + 40 + 120 + 35 = 245 000
    assert segments[S] == {
        "segment": S, "lost": 5, "won": 1, "win_rate": 0.1667, "lost_value": {"CZK": "245000.00", "EUR": "2000.00"},
        "won_value": {"CZK": "200000.00"},  # w01
        "reasons": [  # Cena 3 of 5 = 0.6 (50 + 40 + 35 = 125 000); the rest 1 of 5 = 0.2, by name
            {"reason": CENA, "lost": 3, "share": 0.6, "value": {"CZK": "125000.00"}},
            {"reason": SERVIS, "lost": 1, "share": 0.2, "value": {"CZK": "120000.00"}},
            {"reason": KONKURENCE, "lost": 1, "share": 0.2, "value": {"EUR": "2000.00"}}]}
    # Gastronomie (g1; g2 through custom_fields): lost d03 Cena 60k, d05 Funkce 30k, d07 Konkurence 25k,
    # d10 not given 15k = 4; won w02, w03 = 2; win rate 2 / 6 = 0.3333; CZK 60 + 30 + 25 + 15 = 130 000
    gastro = segments[G]
    assert {k: v for k, v in gastro.items() if k != "reasons"} == {
        "segment": G, "lost": 4, "won": 2, "win_rate": 0.3333, "lost_value": {"CZK": "130000.00"},
        "won_value": {"CZK": "80000.00", "EUR": "1000.00"}}  # w02, w03
    assert _by(gastro["reasons"], "reason") == {  # 1 of 4 = 0.25 each
        CENA: {"reason": CENA, "lost": 1, "share": 0.25, "value": {"CZK": "60000.00"}},
        FUNKCE: {"reason": FUNKCE, "lost": 1, "share": 0.25, "value": {"CZK": "30000.00"}},
        KONKURENCE: {"reason": KONKURENCE, "lost": 1, "share": 0.25, "value": {"CZK": "25000.00"}},
        None: {"reason": None, "lost": 1, "share": 0.25, "value": {"CZK": "15000.00"}}}
    # no industry: dr1's contact (waker): won 1 (90 000), lost 0; win rate 1 / 1 = 1.0
    assert (segments[None]["lost"], segments[None]["won"], segments[None]["win_rate"]) == (0, 1, 1.0)
    assert [s["segment"] for s in report["segments"]] == [S, G, None]  # by lost: 5, 4, 0


def test_loss_reasons_by_owner(story) -> None:
    report = _loss(story["cloud"], **{"from": "2026-01", "to": "2026-04", "by": "owner"})
    segments = _by(report["segments"], "segment")
    # petr: lost d01 Cena 50k, d02 Cena 40k, d05 Funkce 30k, d06 Konkurence EUR 2 000, d09 Cena 35k = 5;
    # won w01, w03, dr1 = 3; win rate 3 / 8 = 0.375; CZK 50 + 40 + 30 + 35 = 155 000
    petr = segments[PETR]
    assert (petr["lost"], petr["won"], petr["win_rate"], petr["lost_value"]) == (
        5, 3, 0.375, {"CZK": "155000.00", "EUR": "2000.00"})
    # Cena 3 of 5 = 0.6, 50 + 40 + 35 = 125 000
    assert petr["reasons"][0] == {"reason": CENA, "lost": 3, "share": 0.6, "value": {"CZK": "125000.00"}}
    # jana: lost d03 Cena 60k, d04 Servis 120k, d07 Konkurence 25k, d10 not given 15k = 4; won w02 = 1;
    # win rate 1 / 5 = 0.2; CZK 60 + 120 + 25 + 15 = 220 000
    jana = segments[JANA]
    assert (jana["lost"], jana["won"], jana["win_rate"], jana["lost_value"]) == (4, 1, 0.2, {"CZK": "220000.00"})
    assert _by(jana["reasons"], "reason")[SERVIS] == {"reason": SERVIS, "lost": 1, "share": 0.25,
                                                       "value": {"CZK": "120000.00"}}
    assert [s["segment"] for s in report["segments"]] == [PETR, JANA]


def test_loss_reasons_by_product(story) -> None:
    report = _loss(story["cloud"], **{"from": "2026-01", "to": "2026-04", "by": "product"})
    segments = _by(report["segments"], "segment")
    # Pro: lost d01 50k, d04 120k, d05 30k, d06 EUR 2 000, d10 15k = 5; won w01, dr1 = 2; 2 / 7 = 0.2857;
    # CZK 50 + 120 + 30 + 15 = 215 000
    pro = segments["Pro"]
    assert (pro["lost"], pro["won"], pro["win_rate"], pro["lost_value"]) == (
        5, 2, 0.2857, {"CZK": "215000.00", "EUR": "2000.00"})
    # Basic: lost d02 Cena 40k, d03 Cena 60k, d07 Konkurence 25k, d09 Cena 35k = 4; won w02, w03 = 2; 2 / 6;
    # CZK 40 + 60 + 25 + 35 = 160 000; Cena 3 of 4 = 0.75 (40 + 60 + 35 = 135 000), Konkurence 1 of 4 = 0.25
    assert segments["Basic"] == {
        "segment": "Basic", "lost": 4, "won": 2, "win_rate": 0.3333, "lost_value": {"CZK": "160000.00"},
        "won_value": {"CZK": "80000.00", "EUR": "1000.00"},  # w02, w03
        "reasons": [{"reason": CENA, "lost": 3, "share": 0.75, "value": {"CZK": "135000.00"}},
                    {"reason": KONKURENCE, "lost": 1, "share": 0.25, "value": {"CZK": "25000.00"}}]}


def test_loss_reasons_by_month_with_the_prague_month_boundary(story) -> None:
    cloud = story["cloud"]
    segments = _by(_loss(cloud, **{"from": "2026-01", "to": "2026-04", "by": "month"})["segments"], "segment")
    # January: lost d01 Cena 50k, d02 Cena 40k, d07 Konkurence 25k = 3; won w01 = 1; 1 / 4 = 0.25;
    # Cena 2 of 3 = 0.6667 (90 000), Konkurence 1 of 3 = 0.3333
    assert segments["2026-01"] == {
        "segment": "2026-01", "lost": 3, "won": 1, "win_rate": 0.25, "lost_value": {"CZK": "115000.00"},
        "won_value": {"CZK": "200000.00"},  # w01
        "reasons": [{"reason": CENA, "lost": 2, "share": 0.6667, "value": {"CZK": "90000.00"}},
                    {"reason": KONKURENCE, "lost": 1, "share": 0.3333, "value": {"CZK": "25000.00"}}]}
    # February: lost d03, d04, d05, d06, d10 = 5 (one of each reason, 0.2 each); won w02, w03 = 2; 2 / 7 = 0.2857;
    # CZK 60 + 120 + 30 + 15 = 225 000, EUR 2 000
    february = segments["2026-02"]
    assert (february["lost"], february["won"], february["win_rate"], february["lost_value"]) == (
        5, 2, 0.2857, {"CZK": "225000.00", "EUR": "2000.00"})
    assert {r["share"] for r in february["reasons"]} == {0.2} and len(february["reasons"]) == 5
    # March: only dr1 won (20 March); April: d09 lost at 2026-03-31T22:30Z = 1 April 00:30 Prague
    assert (segments["2026-03"]["lost"], segments["2026-03"]["won"]) == (0, 1)
    assert segments["2026-04"] == {
        "segment": "2026-04", "lost": 1, "won": 0, "win_rate": 0.0, "lost_value": {"CZK": "35000.00"}, "won_value": {},
        "reasons": [{"reason": CENA, "lost": 1, "share": 1.0, "value": {"CZK": "35000.00"}}]}
    # the same boundary through the period filter
    march = _loss(cloud, **{"from": "2026-03", "to": "2026-03", "by": "none"})["totals"]
    april = _loss(cloud, **{"from": "2026-04", "to": "2026-04", "by": "none"})["totals"]
    assert (march["lost"], march["won"], april["lost"], april["won"]) == (0, 1, 1, 0)


def test_loss_reasons_by_owner(story) -> None:
    report = _loss(story["cloud"], **{"from": "2026-01", "to": "2026-04", "by": "owner"})
    assert [s["segment"] for s in report["segments"]] == [PETR, JANA]  # 5 lost before 4
    segments = _by(report["segments"], "segment")
    # petr: lost d01 Cena 50k, d02 Cena 40k, d05 Funkce 30k, d06 Konkurence EUR 2 000, d09 Cena 35k = 5;
    # won w01 200k, w03 EUR 1 000, dr1 90k (the contact's owner) = 3; win rate 3 / 8 = 0.375
    assert segments[PETR] == {
        "segment": PETR, "lost": 5, "won": 3, "win_rate": 0.375,
        "lost_value": {"CZK": "155000.00", "EUR": "2000.00"},  # 50 + 40 + 30 + 35
        "won_value": {"CZK": "290000.00", "EUR": "1000.00"},  # 200 + 90
        "reasons": [{"reason": CENA, "lost": 3, "share": 0.6, "value": {"CZK": "125000.00"}},
                    {"reason": FUNKCE, "lost": 1, "share": 0.2, "value": {"CZK": "30000.00"}},
                    {"reason": KONKURENCE, "lost": 1, "share": 0.2, "value": {"EUR": "2000.00"}}]}
    # jana: lost d03 Cena 60k, d04 Servis 120k, d07 Konkurence 25k, d10 (none) 15k = 4, a quarter each;
    # won w02 80k = 1; win rate 1 / 5 = 0.2 (d08 reopened: out)
    assert (segments[JANA]["lost"], segments[JANA]["won"], segments[JANA]["win_rate"]) == (4, 1, 0.2)
    assert segments[JANA]["lost_value"] == {"CZK": "220000.00"}  # 60 + 120 + 25 + 15
    assert {r["reason"]: r["share"] for r in segments[JANA]["reasons"]} == {CENA: 0.25, SERVIS: 0.25,
                                                                           KONKURENCE: 0.25, None: 0.25}
    # the totals are the same as without a segment
    assert (report["totals"]["lost"], report["totals"]["won"], report["totals"]["win_rate"]) == (9, 4, 0.3077)


def test_loss_reasons_by_product(story) -> None:
    report = _loss(story["cloud"], **{"from": "2026-01", "to": "2026-04", "by": "product"})
    segments = _by(report["segments"], "segment")
    # Pro: lost d01 50k, d04 120k, d05 30k, d06 EUR 2 000, d10 15k = 5; won w01, dr1 = 2; 2 / 7 = 0.2857
    assert (segments["Pro"]["lost"], segments["Pro"]["won"], segments["Pro"]["win_rate"],
            segments["Pro"]["lost_value"]) == (5, 2, 0.2857, {"CZK": "215000.00", "EUR": "2000.00"})
    # Basic: lost d02 40k, d03 60k, d07 25k, d09 35k = 4; won w02 80k, w03 EUR 1 000 = 2; 2 / 6 = 0.3333
    assert (segments["Basic"]["lost"], segments["Basic"]["won"], segments["Basic"]["win_rate"],
            segments["Basic"]["lost_value"], segments["Basic"]["won_value"]) == (
        4, 2, 0.3333, {"CZK": "160000.00"}, {"CZK": "80000.00", "EUR": "1000.00"})
    # Cena in Basic: d02, d03, d09 = 3 of 4 = 0.75
    assert _by(segments["Basic"]["reasons"], "reason")[CENA]["share"] == 0.75
    assert [s["segment"] for s in report["segments"]] == ["Pro", "Basic"]


# ---------------------------------------------------------------- retention


def _retention(cloud: LocalCloud, period: str) -> dict[str, Any]:
    return _ok(cloud.http("GET", "/reports/retention", query={"period": period}), f"retention {period}")


def _group(orders: int, customers: int, orders_total: int, revenue: str, share_customers: float,
           share_revenue: float) -> dict[str, Any]:
    return {"orders": orders, "label": str(orders), "customers": customers, "orders_total": orders_total,
            "revenue": revenue, "share_customers": share_customers, "share_revenue": share_revenue}


def test_retention_of_all_time(story) -> None:
    report = _retention(story["cloud"], "all")
    # orders: r1 2 (1 000 + 1 000), r2 1 (3 000), r3 2 (4 000), r4 3 (4 500), r5 4 (12 000), r6 5 (5 000)
    # customers 6, orders 2+1+2+3+4+5 = 17, revenue 2 000 + 3 000 + 4 000 + 4 500 + 12 000 + 5 000 = 30 500
    # returning (2+) r1, r3, r4, r5, r6 = 5 -> 5/6 = 0.8333; retained (3+) r4, r5, r6 = 3 -> 3/6 = 0.5
    # aov 30 500 / 17 = 1 794.1176 -> 1794.12; one-time r2 3 000 / 1; returning 27 500 / 16 = 1 718.75
    # gaps: r1 10 Feb -> 2 Apr 51 d (1 gap), r3 30 d (1), r4 55 d (2), r5 97 d (3), r6 151 d (4)
    #   -> (51 + 30 + 55 + 97 + 151) / (1 + 1 + 2 + 3 + 4) = 384 / 11 = 34.909 -> 34.9
    assert report["from"] is None and report["to"] is None and str(report["period"]).lower() == "all"
    assert {k: v for k, v in report.items() if k not in ("groups", "period", "from", "to")} == {
        "currency": "CZK", "customers": 6, "orders": 17, "revenue": "30500.00",
        "returning_customers": 5, "repeat_rate": 0.8333, "retained_customers": 3, "retention_rate": 0.5,
        "aov": "1794.12", "aov_one_time": "3000.00", "aov_returning": "1718.75", "avg_gap_days": 34.9}
    assert report["groups"] == [
        _group(1, 1, 1, "3000.00", 0.1667, 0.0984),  # r2: 3 000 / 30 500 = 0.09836
        _group(2, 2, 4, "6000.00", 0.3333, 0.1967),  # r1 + r3: 2 000 + 4 000 = 6 000 / 30 500 = 0.19672
        _group(3, 1, 3, "4500.00", 0.1667, 0.1475),  # r4: 4 500 / 30 500 = 0.14754
        _group(4, 1, 4, "12000.00", 0.1667, 0.3934),  # r5: 12 000 / 30 500 = 0.39344
        _group(5, 1, 5, "5000.00", 0.1667, 0.1639)]  # r6: 5 000 / 30 500 = 0.16393


def test_retention_of_the_year(story) -> None:
    report = _retention(story["cloud"], "2026")
    # 2026 only: r1 2 (2 000; 10 Feb -> 2 Apr = 51 d), r2 1 (3 000), r3 1 (14 Jan, 2 000),
    # r4 3 (4 500; 5 Jan -> 1 Mar = 55 d), r5 3 (10 Jan, 15 Feb, 25 Feb: 8 000; 46 d), r6 3 (20 Jan, 20 Feb,
    # 1 Mar: 3 000; 40 d)
    # customers 6, orders 13, revenue 22 500; returning r1, r4, r5, r6 = 4 -> 0.6667; retained 3 -> 0.5
    # aov 22 500 / 13 = 1 730.77; one-time (3 000 + 2 000) / 2 = 2 500; returning 17 500 / 11 = 1 590.91
    # gap (51 + 55 + 46 + 40) / (1 + 2 + 2 + 2) = 192 / 7 = 27.43 -> 27.4
    assert (report["period"], report["from"], report["to"]) == ("2026", "2026-01-01", "2026-12-31")
    assert {k: v for k, v in report.items() if k not in ("groups", "period", "from", "to")} == {
        "currency": "CZK", "customers": 6, "orders": 13, "revenue": "22500.00",
        "returning_customers": 4, "repeat_rate": 0.6667, "retained_customers": 3, "retention_rate": 0.5,
        "aov": "1730.77", "aov_one_time": "2500.00", "aov_returning": "1590.91", "avg_gap_days": 27.4}
    assert report["groups"] == [
        _group(1, 2, 2, "5000.00", 0.3333, 0.2222),  # r2 + r3: 5 000 / 22 500
        _group(2, 1, 2, "2000.00", 0.1667, 0.0889),  # r1: 2 000 / 22 500 = 0.08889
        _group(3, 3, 9, "15500.00", 0.5, 0.6889)]  # r4 + r5 + r6: 4 500 + 8 000 + 3 000 = 15 500 / 22 500


def test_retention_of_a_quarter(story) -> None:
    q1 = _retention(story["cloud"], "2026-Q1")
    # Q1 2026 (r1's April order is out): r1 1 (1 000), r2 1 (3 000), r3 1 (2 000), r4 3 (4 500), r5 3 (8 000),
    # r6 3 (3 000): customers 6, orders 12, revenue 21 500; returning = retained = r4, r5, r6 = 3 -> 0.5
    # aov 21 500 / 12 = 1 791.67; one-time 6 000 / 3 = 2 000; returning 15 500 / 9 = 1 722.22
    # gap (55 + 46 + 40) / 6 = 23.5
    assert (q1["period"], q1["from"], q1["to"]) == ("2026-Q1", "2026-01-01", "2026-03-31")
    assert (q1["customers"], q1["orders"], q1["revenue"]) == (6, 12, "21500.00")
    assert (q1["returning_customers"], q1["repeat_rate"], q1["retained_customers"], q1["retention_rate"]) == (
        3, 0.5, 3, 0.5)
    assert (q1["aov"], q1["aov_one_time"], q1["aov_returning"], q1["avg_gap_days"]) == (
        "1791.67", "2000.00", "1722.22", 23.5)
    assert q1["groups"] == [_group(1, 3, 3, "6000.00", 0.5, 0.2791),  # 6 000 / 21 500 = 0.27907
                            _group(3, 3, 9, "15500.00", 0.5, 0.7209)]  # 15 500 / 21 500 = 0.72093
    q4 = _retention(story["cloud"], "2025-Q4")
    # Q4 2025: r3 1 (15 Dec, 2 000), r5 1 (20 Nov, 4 000), r6 2 (1 Oct 800, 1 Dec 1 200; 61 d): customers 3,
    # orders 4, revenue 8 000; returning 1 -> 0.3333; retained 0 -> 0.0; aov 2 000; one-time 6 000 / 2 = 3 000;
    # returning 2 000 / 2 = 1 000; gap 61 / 1 = 61.0
    assert (q4["from"], q4["to"], q4["customers"], q4["orders"], q4["revenue"]) == (
        "2025-10-01", "2025-12-31", 3, 4, "8000.00")
    assert (q4["repeat_rate"], q4["retention_rate"], q4["aov"], q4["aov_one_time"], q4["aov_returning"],
            q4["avg_gap_days"]) == (0.3333, 0.0, "2000.00", "3000.00", "1000.00", 61.0)
    assert q4["groups"] == [_group(1, 2, 2, "6000.00", 0.6667, 0.75), _group(2, 1, 2, "2000.00", 0.3333, 0.25)]


def test_retention_of_a_month_with_the_prague_month_boundary(story) -> None:
    february = _retention(story["cloud"], "2026-02")
    # February (Prague): r1 10 Feb 1 000, r2 1 Feb 00:30 Prague (31 Jan 23:30 UTC) 3 000, r4 4 Feb 1 500,
    # r5 15 Feb 2 500 + 25 Feb 3 000, r6 20 Feb 1 000: customers 5, orders 6, revenue 12 000
    # returning r5 = 1 -> 1/5 = 0.2; retained 0 -> 0.0; aov 12 000 / 6 = 2 000
    # one-time (1 000 + 3 000 + 1 500 + 1 000) / 4 = 6 500 / 4 = 1 625; returning 5 500 / 2 = 2 750; gap 10 d
    assert (february["from"], february["to"]) == ("2026-02-01", "2026-02-28")
    assert {k: v for k, v in february.items() if k not in ("groups", "period", "from", "to")} == {
        "currency": "CZK", "customers": 5, "orders": 6, "revenue": "12000.00",
        "returning_customers": 1, "repeat_rate": 0.2, "retained_customers": 0, "retention_rate": 0.0,
        "aov": "2000.00", "aov_one_time": "1625.00", "aov_returning": "2750.00", "avg_gap_days": 10.0}
    assert february["groups"] == [_group(1, 4, 4, "6500.00", 0.8, 0.5417),  # 6 500 / 12 000 = 0.54167
                                  _group(2, 1, 2, "5500.00", 0.2, 0.4583)]  # 5 500 / 12 000 = 0.45833
    january = _retention(story["cloud"], "2026-01")
    # January: r3 2 000, r4 1 500, r5 2 500, r6 1 000 (r2 belongs to February): 4 customers, one order each;
    # aov 7 000 / 4 = 1 750; no returning customers: their AOV and the gap do not apply
    assert (january["customers"], january["orders"], january["revenue"], january["returning_customers"]) == (
        4, 4, "7000.00", 0)
    assert (january["repeat_rate"], january["retention_rate"], january["aov"], january["aov_one_time"]) == (
        0.0, 0.0, "1750.00", "1750.00")
    assert january["aov_returning"] is None and january["avg_gap_days"] is None
    assert january["groups"] == [_group(1, 4, 4, "7000.00", 1.0, 1.0)]


# ---------------------------------------------------------------- workflows


def test_workflow_results(story) -> None:
    report = _ok(story["cloud"].http("GET", "/reports/workflows", query={"from": "2026-03", "to": "2026-04"}),
                 "workflows")
    assert [w["workflow"] for w in report["workflows"]] == ["inactivity", "escalation", "deal_reactivation",
                                                            "lead_scoring"]
    flows = _by(report["workflows"], "workflow")
    inactivity = flows["inactivity"]
    # enrolled: sleeper-wait, sleeper-after, sleeper-owner (one review task each, 2 March) = 3
    # tasks: 3 created, 1 completed (sleeper-owner), 2 open; e-mails: sleeper-after's follow-up on 1 April = 1
    # reactions: sleeper-wait 10 March (waiting) + sleeper-after 2 April (followed up) = 2: wait 1, after 1
    # new deals: dn1 (sleeper-wait, 12 March, 70 000) = 1
    assert {k: inactivity[k] for k in ("enrolled", "tasks_created", "tasks_completed", "tasks_cancelled",
                                       "tasks_open", "emails_sent", "reactions", "reactions_wait",
                                       "reactions_after", "new_deals", "new_deal_value")} == {
        "enrolled": 3, "tasks_created": 3, "tasks_completed": 1, "tasks_cancelled": 0, "tasks_open": 2,
        "emails_sent": 1, "reactions": 2, "reactions_wait": 1, "reactions_after": 1, "new_deals": 1,
        "new_deal_value": {"CZK": "70000.00"}}
    reactivation = flows["deal_reactivation"]
    # enrolled: dr1, dr2 (2 March) = 2; e-mails: dr1's = 1, skipped: dr2's (do not contact) = 1
    # tasks: dr2's call task = 1, completed; reactions: waker's reply = 1; won: dr1 on 20 March, 90 000
    assert {k: reactivation[k] for k in ("enrolled", "tasks_created", "tasks_completed", "tasks_open",
                                         "emails_sent", "emails_skipped", "reactions", "won_deals",
                                         "won_value")} == {
        "enrolled": 2, "tasks_created": 1, "tasks_completed": 1, "tasks_open": 0, "emails_sent": 1,
        "emails_skipped": 1, "reactions": 1, "won_deals": 1, "won_value": {"CZK": "90000.00"}}
    escalation = flows["escalation"]
    # one ticket rated very unhappy -> one task for the team lead, completed as resolved; no e-mails, no reactions
    assert {k: escalation[k] for k in ("enrolled", "tasks_created", "tasks_completed", "tasks_open")} == {
        "enrolled": 1, "tasks_created": 1, "tasks_completed": 1, "tasks_open": 0}
    assert escalation["emails_sent"] is None and escalation["reactions"] is None
    scoring = flows["lead_scoring"]
    assert (scoring["enrolled"], scoring["tasks_created"]) == (0, 0)


def test_workflow_results_of_april_only(story) -> None:
    report = _ok(story["cloud"].http("GET", "/reports/workflows", query={"from": "2026-04", "to": "2026-04"}),
                 "workflows")
    inactivity = _by(report["workflows"], "workflow")["inactivity"]
    # April: no enrolments or tasks (all on 2 March); the follow-up e-mail (1 April) and the reply after it (2 April)
    assert {k: inactivity[k] for k in ("enrolled", "tasks_created", "emails_sent", "reactions", "reactions_wait",
                                       "reactions_after", "new_deals")} == {
        "enrolled": 0, "tasks_created": 0, "emails_sent": 1, "reactions": 1, "reactions_wait": 0,
        "reactions_after": 1, "new_deals": 0}


# ---------------------------------------------------------------- campaigns


def test_campaign_results(story) -> None:
    report = _ok(story["cloud"].http("GET", "/reports/campaigns", query={"from": "2026-03", "to": "2026-04"}),
                 "campaigns")
    [campaign] = report["campaigns"]
    assert campaign["campaign_id"] == story["campaign_id"] and campaign["status"] == "completed"
    # audience 8; left out: c-unsubscribed (unsubscribed), c-no-consent (no consent) = 2; sent 8 - 2 = 6
    # delivered: all sent but the bounce = 5 (the complaint address is delivered first)
    # opened (unique): c-reader, c-reader2 = 2; opens: 1 + 2 = 3; clicked/clicks: c-reader = 1
    expected = {"audience": 8, "sent": 6, "delivered": 5, "opened": 2, "clicked": 1, "opens": 3, "clicks": 1,
                "bounced": 1, "complained": 1, "unsubscribed": 1, "failed": 0,
                "suppressed": {"unsubscribed": 1, "no_consent": 1}, "suppressed_total": 2,
                # delivery 5 / 6 = 0.8333; open 2 / 5 = 0.4; click 1 / 5 = 0.2; bounce 1 / 6 = 0.1667;
                # complaint 1 / 5 = 0.2; unsubscribe 1 / 5 = 0.2
                "rates": {"delivery": 0.8333, "open": 0.4, "click": 0.2, "bounce": 0.1667, "complaint": 0.2,
                          "unsubscribe": 0.2}}
    assert {k: campaign[k] for k in expected} == expected
    assert {k: report["totals"][k] for k in expected} == expected  # one campaign: the totals are its figures
    # a period before the campaign has none
    earlier = _ok(story["cloud"].http("GET", "/reports/campaigns", query={"from": "2026-01", "to": "2026-02"}),
                  "campaigns")
    assert earlier["campaigns"] == []
