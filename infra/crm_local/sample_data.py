"""A realistic Czech sample CRM for the demo and the end-to-end test.

Two parts:
- the *story* contacts: named people, each showing one case of the inactivity workflow (they are the same in every
  run, so the demo output and the end-to-end assertions can name them);
- *background* contacts, deals and activities generated from a fixed seed, so the scan has a real base to work
  through (most contacts are active, some have open deals, some are quiet);
- the *report* customers: a dozen companies with their purchase histories and won and lost deals over the last
  twelve months, so the reports (loss reasons, retention) tell a story. What happened before the demo's start is
  loaded with the CRM; what happens during the demo (March to June) is in `late_deals` / `late_activities`, entered
  at its end as an ERP/e-shop import would (past times are accepted).

Everything is expressed as HTTP API payloads: the demo loads the CRM through the same API a real CRM would use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

OWNERS = ["petr.svoboda", "jana.dvorakova", "martin.kral", "lucie.horakova"]

MALE = [("Jan", "Novák"), ("Petr", "Svoboda"), ("Tomáš", "Novotný"), ("Martin", "Dvořák"), ("Jiří", "Černý"),
        ("Pavel", "Procházka"), ("Lukáš", "Kučera"), ("Jakub", "Veselý"), ("David", "Horák"), ("Michal", "Němec"),
        ("Ondřej", "Pokorný"), ("Josef", "Marek"), ("Václav", "Pospíšil"), ("Karel", "Hájek"), ("Filip", "Král"),
        ("Adam", "Jelínek"), ("Roman", "Růžička"), ("Vojtěch", "Beneš"), ("Zdeněk", "Fiala"), ("Milan", "Sedláček")]
FEMALE = [("Jana", "Nováková"), ("Eva", "Svobodová"), ("Hana", "Novotná"), ("Lucie", "Dvořáková"),
          ("Petra", "Černá"), ("Kateřina", "Procházková"), ("Lenka", "Kučerová"), ("Martina", "Veselá"),
          ("Tereza", "Horáková"), ("Veronika", "Němcová"), ("Markéta", "Pokorná"), ("Alena", "Marková"),
          ("Zuzana", "Pospíšilová"), ("Monika", "Hájková"), ("Barbora", "Králová"), ("Klára", "Jelínková"),
          ("Michaela", "Růžičková"), ("Andrea", "Benešová"), ("Ivana", "Fialová"), ("Simona", "Sedláčková")]
COMPANY_WORDS = ["Pekárna", "Stavby", "Autoservis", "Tiskárna", "Kavárna", "Truhlářství", "Elektro", "Zahradnictví",
                 "Účetnictví", "Strojírny", "Vinařství", "Cukrárna", "Realitní kancelář", "Logistika", "Projekce"]
TOWNS = ["Brno", "Olomouc", "Jihlava", "Plzeň", "Liberec", "Zlín", "Kolín", "Tábor", "Písek", "Třebíč"]
LOSS_REASONS = ["Cena", "Pomalá reakce servisu", "Chybějící funkce A", "Vybrali konkurenci", "Odložený rozpočet"]
DEAL_TITLES = ["Roční licence", "Rozšíření o modul Sklad", "Servisní smlouva", "Pilotní projekt", "Školení týmu",
               "Upgrade na verzi Pro", "Implementace CRM", "Dodávka hardwaru"]
# "Produkt" of a deal (reports segment by it), from its title
PRODUCT_OF_TITLE = {"Roční licence": "Licence CRM", "Rozšíření o modul Sklad": "Modul Sklad",
                    "Servisní smlouva": "Servis", "Pilotní projekt": "Implementace", "Školení týmu": "Školení",
                    "Upgrade na verzi Pro": "Licence CRM", "Implementace CRM": "Implementace",
                    "Dodávka hardwaru": "Hardware"}
INDUSTRY_FIELD = "industry"  # settings.report_industry_field: the company field reports read the industry from


def _iso(moment: datetime) -> str:
    return moment.astimezone().isoformat() if moment.tzinfo is None else moment.isoformat()


def _ascii(text: str) -> str:
    table = str.maketrans("áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ", "acdeeinorstuuyzACDEEINORSTUUYZ")
    return text.translate(table).lower().replace(" ", "")


@dataclass
class StoryContact:
    key: str  # how the demo and the tests refer to the case
    case: str  # what it shows (Czech, printed by the demo)
    payload: dict[str, Any]
    deals: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)  # occurred_at as days before the start


@dataclass
class SampleCrm:
    story: list[StoryContact]
    contacts: list[dict[str, Any]]
    deals: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    # closed during the demo (March to June 2026): entered at its end with their past times
    late_deals: list[dict[str, Any]] = field(default_factory=list)
    late_activities: list[dict[str, Any]] = field(default_factory=list)


def _consent(at: datetime) -> dict[str, Any]:
    return {"granted": True, "purpose": "marketing", "at": _iso(at), "source": "web-form:newsletter",
            "text_version": "souhlas-2024-01"}


def story_contacts(start: datetime) -> list[StoryContact]:
    """The named cases. `start` is the demo's first day; quiet periods are counted back from it."""

    def person(key: str, first: str, last: str, quiet_days: int, **extra: Any) -> dict[str, Any]:
        return {
            "contact_id": f"story-{key}",
            "first_name": first,
            "last_name": last,
            "email": f"{_ascii(first)}.{_ascii(last)}@{extra.pop('domain', 'example.cz')}",
            "phone": extra.pop("phone", "+420 601 234 567"),
            "owner": extra.pop("owner", "petr.svoboda"),
            "lifecycle": extra.pop("lifecycle", "customer"),
            "marketing_consent": extra.pop("marketing_consent", _consent(start - timedelta(days=900))),
            "created_at": _iso(start - timedelta(days=1200)),
            "last_activity_at": _iso(start - timedelta(days=quiet_days)),
            **extra,
        }

    return [
        StoryContact("email", "Neaktivní 200 dní, souhlas s marketingem: po 30 dnech dostane reaktivační e-mail",
                     person("email", "Jana", "Nováková", 200, company="Pekárna Nováková s.r.o.",
                            lifetime_revenue=48000)),
        StoryContact("vip", "VIP (tržby 1,2 mil. Kč): místo e-mailu osobní telefonát obchodníka",
                     person("vip", "Pavel", "Dvořák", 230, company="Stavby Dvořák a.s.", lifetime_revenue=1200000,
                            owner="jana.dvorakova")),
        StoryContact("bounced", "Poslední e-mail se vrátil: navržen k archivaci, žádný e-mail",
                     person("bounced", "Tomáš", "Procházka", 260, company="Tiskárna Procházka",
                            email_status="bounced", owner="martin.kral")),
        StoryContact("do-not-contact", "Štítek Nezasílat marketing: úkol ano, e-mail nikdy",
                     person("do-not-contact", "Eva", "Černá", 210, marketing_status="do_not_contact",
                            owner="lucie.horakova")),
        StoryContact("no-consent", "Importovaný lead bez souhlasu: úkol ano, e-mail ne",
                     person("no-consent", "Jiří", "Marek", 300, marketing_consent=None, lifecycle="lead",
                            owner="martin.kral")),
        StoryContact("replies", "Během čekání odpoví na e-mail obchodníka: vypadne z flow, štítek odebrán",
                     person("replies", "Martin", "Kučera", 195, company="Autoservis Kučera")),
        StoryContact("owner-acts", "Obchodník úkol splní do 30 dnů: žádný automatický e-mail",
                     person("owner-acts", "Lucie", "Veselá", 220, owner="jana.dvorakova")),
        StoryContact("later", "Zneaktivní se až během dema (180 dní uplyne za 40 dní): zařazen později",
                     person("later", "Hana", "Horáková", 140, company="Kavárna U Horáků", owner="lucie.horakova")),
        StoryContact("open-deal", "Mlčí 300 dní, ale má otevřený obchod: do flow neaktivity nepatří, obchod ale projde reaktivací (e-mail, pak hovor)",
                     person("open-deal", "Petra", "Němcová", 300, owner="martin.kral"),
                     deals=[{"title": "Upgrade na verzi Pro", "value": 85000, "status": "open"}]),
        StoryContact("active", "Aktivní zákaznice (nákup před 20 dny): nic se neděje",
                     person("active", "Tereza", "Pokorná", 20, lifetime_revenue=30000)),
        StoryContact("escalation", "Helpdesk zapíše tiket s „Vysoká nespokojenost“: úkol vedoucí týmu, „Nutno "
                     "řešit“, marketing pozastaven; vedoucí úkol splní jako vyřešený",
                     person("escalation", "Karel", "Beneš", 4, company="Strojírna Beneš s.r.o.",
                            lifetime_revenue=640000, owner="martin.kral"),
                     deals=[{"title": "Servisní smlouva 2026", "value": 180000, "status": "open"},
                            {"title": "Náhradní díly – rámcová objednávka", "value": 64000, "status": "postponed"}],
                     activities=[
                         {"kind": "complaint", "days_ago": 25, "subject": "Reklamace: vadná ložiska",
                          "summary": "Druhá reklamace ve čtvrtletí, zákazník žádá náhradu nákladů."},
                         {"kind": "ticket", "days_ago": 4, "subject": "Servisní technik nedorazil",
                          "summary": "Výjezd domluvený na pondělí se nekonal, linka stojí."},
                     ]),
        StoryContact("deal-postponed", "Obchod přepnut na „Odloženo“: osobní e-mail od obchodníka, bez reakce "
                     "→ po 14 dnech úkol „Reaktivační hovor“",
                     person("deal-postponed", "Ondřej", "Kratochvíl", 12, company="Kratochvíl Stavby s.r.o.",
                            owner="martin.kral"),
                     deals=[{"title": "Rekonstrukce kanceláří", "value": 420000, "status": "open"}]),
        StoryContact("deal-replies", "Obchod 100 dní bez aktivity: denní kontrola pošle e-mail, klientka odpoví "
                     "→ čekání končí, žádný úkol",
                     person("deal-replies", "Veronika", "Malá", 100, company="Malá Design", owner="jana.dvorakova"),
                     deals=[{"title": "Nový e-shop", "value": 96000, "status": "open"}]),
        StoryContact("paused", "Neaktivní klientka ohodnocena „Vysoká nespokojenost“: po 30 dnech žádný "
                     "reaktivační e-mail (pozastaveno); spokojenost „Neutrální“ pauzu zruší",
                     person("paused", "Alena", "Svobodová", 205, company="Cukrárna Svobodová",
                            owner="lucie.horakova")),
        *winback_contacts(person),
    ]


WINBACK_LOSS_REASON = "Chybějící funkce A"
# Addresses erased under GDPR in the previous CRM: imported as a suppression list before the win-back campaign
ERASED_ADDRESSES = ["roman.fiala@example.cz", "karolina.bartosova@example.cz"]


def winback_contacts(person: Any) -> list[StoryContact]:
    """Former customers lost to a missing feature A (seed 000 §4): the win-back campaign's audience."""
    lost = [{"title": "Roční licence", "product": "Licence CRM", "value": 60000, "status": "lost",
             "loss_reason": WINBACK_LOSS_REASON}]
    former = {"lifecycle": "former_customer", "owner": "jana.dvorakova"}

    def industry(name: str) -> dict[str, Any]:
        return {"company_fields": {INDUSTRY_FIELD: name}}

    return [
        StoryContact("wb-clicks", "Win-back: dostane e-mail, otevře ho a klikne na odkaz (aktivita z SES)",
                     person("wb-clicks", "Jitka", "Šťastná", 30, company="Účetnictví Šťastná", **industry("Služby"),
                            **former), deals=lost),
        StoryContact("wb-unsubscribes", "Win-back: dostane e-mail a odhlásí se jedním kliknutím (RFC 8058)",
                     person("wb-unsubscribes", "Radek", "Pospíšil", 35, company="Pospíšil Logistika s.r.o.",
                            **industry("Obchod"), **former), deals=lost),
        StoryContact("wb-bounces", "Win-back: adresa neexistuje (SES simulátor) → tvrdý bounce, adresa potlačena",
                     person("wb-bounces", "Milan", "Havel", 40, domain="simulator.amazonses.com",
                            **industry("Výroba"), **former)
                     | {"email": "bounce@simulator.amazonses.com"}, deals=lost),
        StoryContact("wb-unsubscribed", "Win-back: dříve odhlášený z odběru → vynechán",
                     person("wb-unsubscribed", "Zdeněk", "Kolář", 25, marketing_status="unsubscribed",
                            **industry("Stavebnictví"), **former), deals=lost),
        StoryContact("wb-no-consent", "Win-back: bez souhlasu s marketingem → vynechán",
                     person("wb-no-consent", "Ivana", "Benešová", 28, marketing_consent=None, **industry("Gastro"),
                            **former), deals=lost),
        StoryContact("wb-erased", "Win-back: znovu naimportován z koupeného seznamu, ale adresa byla vymazána "
                     "(GDPR) → zůstává potlačen",
                     person("wb-erased", "Roman", "Fiala", 33, **industry("Služby"), **former), deals=lost),
    ]


# How each owner appears in e-mails sent in their name (template parameter Owners).
OWNER_PROFILES = {
    "petr.svoboda": {"name": "Petr Svoboda", "email": "petr.svoboda@example.cz"},
    "jana.dvorakova": {"name": "Jana Dvořáková", "email": "jana.dvorakova@example.cz"},
    "martin.kral": {"name": "Martin Král", "email": "martin.kral@example.cz"},
    "lucie.horakova": {"name": "Lucie Horáková", "email": "lucie.horakova@example.cz"},
}

# Sales team leads (template parameter TeamLeads): who gets an escalation task for each owner's client.
TEAM_LEADS = {"petr.svoboda": "marie.kralova", "jana.dvorakova": "marie.kralova", "martin.kral": "tomas.bartos",
              "lucie.horakova": "tomas.bartos"}


# ---------------------------------------------------------------- the report customers

# contact id (rep-<key>), company, industry, owner
REPORT_CUSTOMERS = [
    ("pekarna", "Pekárna Kolín s.r.o.", "Gastro", "petr.svoboda"),
    ("kavarna", "Kavárna Na Náměstí", "Gastro", "jana.dvorakova"),
    ("bistro", "Bistro Tábor", "Gastro", "lucie.horakova"),
    ("strojirny", "Strojírny Plzeň a.s.", "Výroba", "martin.kral"),
    ("kovo", "Kovo Jihlava s.r.o.", "Výroba", "martin.kral"),
    ("tiskarna", "Tiskárna Písek", "Služby", "petr.svoboda"),
    ("stavby", "Stavby Liberec s.r.o.", "Stavebnictví", "lucie.horakova"),
    ("elektro", "Elektro Třebíč", "Obchod", "jana.dvorakova"),
    ("ucetni", "Účetní kancelář Olomouc", "Služby", "jana.dvorakova"),
    ("zahradnictvi", "Zahradnictví Kolín", "Obchod", "petr.svoboda"),
    ("truhlarstvi", "Truhlářství Brno", "Výroba", "lucie.horakova"),
    ("vinarstvi", "Vinařství Mikulov", "Gastro", "martin.kral"),
]
# customer, product, status, loss reason, value (CZK unless a currency follows), closed (date, 10:00 UTC)
REPORT_DEALS = [
    ("pekarna", "Licence CRM", "lost", "Cena", 120000, "2025-10-08"),
    ("strojirny", "Servis", "won", None, 85000, "2025-10-21"),
    ("stavby", "Implementace", "lost", "Vybrali konkurenci", 240000, "2025-11-05"),
    ("kavarna", "Modul Sklad", "lost", "Cena", 65000, "2025-11-18"),
    ("zahradnictvi", "Licence CRM", "won", None, 150000, "2025-12-03"),
    ("kovo", "Servis", "lost", "Pomalá reakce servisu", 90000, "2025-12-15"),
    ("ucetni", "Implementace", "lost", "Cena", 180000, "2026-01-12"),
    ("bistro", "Školení", "won", None, 60000, "2026-01-26"),
    ("tiskarna", "Licence CRM", "lost", "Chybějící funkce A", 110000, "2026-02-09"),
    ("elektro", "Modul Sklad", "lost", "Cena", 45000, "2026-02-19"),
    ("vinarstvi", "Licence CRM", "won", None, (4800, "EUR"), "2026-02-24"),
    # during the demo
    ("truhlarstvi", "Servis", "lost", "Cena", 95000, "2026-03-10"),
    ("strojirny", "Implementace", "won", None, 210000, "2026-03-25"),
    ("pekarna", "Servis", "lost", "Pomalá reakce servisu", 130000, "2026-04-08"),
    ("kovo", "Licence CRM", "lost", "Vybrali konkurenci", 70000, "2026-04-22"),
    ("zahradnictvi", "Licence CRM", "lost", "Cena", 150000, "2026-05-06"),
    ("kavarna", "Modul Sklad", "won", None, 75000, "2026-05-20"),
    ("ucetni", "Školení", "lost", "Odložený rozpočet", 55000, "2026-06-03"),
    ("stavby", "Modul Sklad", "lost", "Cena", 88000, "2026-06-17"),
    ("elektro", "Licence CRM", "won", None, 120000, "2026-06-26"),
]
# customer: purchases (date at 09:00 UTC, amount in CZK): one-time and returning customers
REPORT_PURCHASES = {
    "pekarna": [("2025-09-15", 12400), ("2025-11-10", 9800), ("2026-01-12", 11200), ("2026-03-16", 10500),
                ("2026-05-11", 12900)],
    "kavarna": [("2025-10-06", 6200), ("2026-02-02", 5900), ("2026-04-20", 7400)],
    "bistro": [("2026-01-26", 8500)],
    "strojirny": [("2025-12-01", 48000), ("2026-02-16", 36500), ("2026-04-06", 52000), ("2026-06-08", 41000)],
    "kovo": [("2025-11-24", 22000), ("2026-05-04", 19500)],
    "tiskarna": [("2026-03-23", 14900)],
    "stavby": [("2026-01-05", 31000), ("2026-03-30", 27500), ("2026-06-15", 33800)],
    "elektro": [("2025-12-18", 4300)],
    "ucetni": [("2026-02-09", 3600), ("2026-05-25", 3600)],
    "zahradnictvi": [("2025-10-13", 7800), ("2025-12-08", 6900), ("2026-01-19", 8200), ("2026-02-23", 7100),
                     ("2026-04-13", 9400), ("2026-06-01", 8800)],
    "truhlarstvi": [("2026-06-22", 16700)],
    "vinarstvi": [("2026-01-08", 11000), ("2026-03-09", 12500)],
}


def report_customers(start: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The report customers' contacts, deals and purchases (each deal and purchase with its past time)."""
    contacts, deals, purchases = [], [], []
    for key, company, industry, owner in REPORT_CUSTOMERS:
        contacts.append({
            "contact_id": f"rep-{key}", "first_name": "Obchodní", "last_name": "oddělení", "company": company,
            "email": f"obchod@{_ascii(key)}-firma.cz", "owner": owner, "lifecycle": "customer",
            "company_fields": {INDUSTRY_FIELD: industry}, "marketing_consent": _consent(start - timedelta(days=600)),
            "created_at": _iso(start - timedelta(days=700)),
            # a call last week: none of them crosses the 180 days of the inactivity flow during the demo
            "last_activity_at": _iso(start - timedelta(days=5)),
        })
    owners = {key: owner for key, _, _, owner in REPORT_CUSTOMERS}
    for n, (key, product, status, reason, value, closed) in enumerate(REPORT_DEALS):
        amount, currency = value if isinstance(value, tuple) else (value, "CZK")
        closed_at = datetime.fromisoformat(f"{closed}T10:00:00+00:00")
        deals.append({
            "deal_id": f"rep-{key}-d{n}", "contact_id": f"rep-{key}", "owner": owners[key],
            "title": f"{product} – {closed_at:%m/%Y}", "product": product, "value": amount, "currency": currency,
            "status": status, **({"loss_reason": reason} if reason else {}), "closed_at": _iso(closed_at),
            "created_at": _iso(closed_at - timedelta(days=35)), "last_activity_at": _iso(closed_at),
        })
    for key, history in REPORT_PURCHASES.items():
        for n, (day, amount) in enumerate(history):
            purchases.append({"activity_id": f"rep-{key}-p{n}", "contact_id": f"rep-{key}", "kind": "purchase",
                              "occurred_at": f"{day}T09:00:00+00:00", "amount": amount,
                              "subject": f"Objednávka {n + 1}"})
    return contacts, deals, purchases


def _closed_at(rng: random.Random, start: datetime, created_at: str) -> str:
    """When a background deal was won or lost: within the last ten months, after it was created."""
    created = datetime.fromisoformat(created_at)
    return _iso(max(created + timedelta(days=1), start - timedelta(days=rng.randint(3, 300), hours=rng.randint(0, 9))))


def generate(start: datetime, background: int = 240, seed: int = 20260105) -> SampleCrm:
    """The whole sample CRM: story contacts plus `background` generated ones, with deals and activities."""
    rng = random.Random(seed)
    closing = random.Random(seed + 1)  # closing times of background deals (keeps `rng`'s sequence as it was)
    story = story_contacts(start)
    contacts: list[dict[str, Any]] = [s.payload for s in story]
    deals: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for s in story:
        for n, deal in enumerate(s.deals):
            deals.append({"deal_id": f"{s.payload['contact_id']}-d{n}", "contact_id": s.payload["contact_id"],
                          "created_at": s.payload["last_activity_at"], **deal})
        for n, activity in enumerate(s.activities):
            fields = {k: v for k, v in activity.items() if k != "days_ago"}
            activities.append({"activity_id": f"{s.payload['contact_id']}-a{n}", "contact_id": s.payload["contact_id"],
                               "occurred_at": _iso(start - timedelta(days=activity["days_ago"])), **fields})
    used_emails: set[str] = set()
    for i in range(background):
        first, last = rng.choice(MALE if rng.random() < 0.5 else FEMALE)
        company = f"{rng.choice(COMPANY_WORDS)} {last} {rng.choice(['s.r.o.', 'a.s.', ''])}".strip() \
            if rng.random() < 0.7 else None
        email = f"{_ascii(first)}.{_ascii(last)}{i}@{_ascii(rng.choice(TOWNS))}-firma.cz"
        used_emails.add(email)
        # Last activity: most contacts are active, a tail is quiet (some of it past 180 days already)
        quiet = int(rng.choice([rng.randint(0, 90), rng.randint(0, 90), rng.randint(90, 170), rng.randint(170, 400)]))
        created = start - timedelta(days=quiet + rng.randint(30, 900))
        lifecycle = rng.choice(["lead", "customer", "customer", "former_customer"])
        revenue = 0 if lifecycle == "lead" else rng.choice([0, 5000, 18000, 42000, 96000, 310000])
        contact_id = f"bg-{i:04d}"
        contacts.append({
            "contact_id": contact_id, "first_name": first, "last_name": last, "email": email,
            "phone": f"+420 7{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            "company": company, "owner": rng.choice(OWNERS), "lifecycle": lifecycle,
            "lifetime_revenue": revenue,
            "marketing_consent": _consent(created) if rng.random() < 0.8 else None,
            "marketing_status": "do_not_contact" if rng.random() < 0.05 else "subscribed",
            "email_status": "bounced" if rng.random() < 0.04 else "ok",
            "tags": rng.sample(["Newsletter", "Veletrh 2025", "Webinář", "Partner"], k=rng.randint(0, 2)),
            "custom_fields": {"Obor": rng.choice(["Stavebnictví", "Gastro", "Služby", "Výroba", "Obchod"]),
                              "Město": rng.choice(TOWNS)},
            "created_at": _iso(created),
            "last_activity_at": _iso(created),
        })
        # the industry for the reports: the company's, or a sole trader's own (custom field, the fallback)
        industry = contacts[-1]["custom_fields"]["Obor"]
        if company:
            contacts[-1]["company_fields"] = {INDUSTRY_FIELD: industry}
        else:
            contacts[-1]["custom_fields"][INDUSTRY_FIELD] = industry
        last_activity = start - timedelta(days=quiet, hours=rng.randint(0, 8))
        # A few activities up to the last one (the API applies them through the activities stream)
        for n in range(rng.randint(1, 3)):
            occurred = last_activity - timedelta(days=n * rng.randint(20, 60))
            if occurred < created:
                break
            kind = rng.choice(["call", "email_out", "email_in", "meeting", "note", "purchase", "open", "click"])
            activities.append({
                "activity_id": f"{contact_id}-a{n}", "contact_id": contact_id, "kind": kind,
                "occurred_at": _iso(occurred),
                "subject": {"call": "Telefonát", "email_out": "Nabídka", "email_in": "Re: Nabídka",
                            "meeting": "Schůzka", "note": "Poznámka", "purchase": "Objednávka",
                            "open": "Otevřel newsletter", "click": "Klik v newsletteru"}[kind],
                **({"amount": rng.choice([2500, 8900, 15400])} if kind == "purchase" else {}),
            })
        # Deals: some open (keeps the contact out of the inactivity flow), some closed
        if rng.random() < 0.35:
            status = rng.choice(["open", "won", "lost", "lost", "postponed"])
            title = rng.choice(DEAL_TITLES)
            deals.append({
                "deal_id": f"{contact_id}-d0", "contact_id": contact_id, "title": title,
                "product": PRODUCT_OF_TITLE[title],
                "value": rng.choice([15000, 40000, 85000, 120000, 250000]), "status": status,
                **({"loss_reason": rng.choice(LOSS_REASONS)} if status == "lost" else {}),
                "created_at": _iso(created + timedelta(days=5)),
            })
            if status in ("won", "lost"):
                deals[-1]["closed_at"] = _closed_at(closing, start, deals[-1]["created_at"])
    report_contacts, report_deals, report_purchases = report_customers(start)
    contacts += report_contacts

    def before(at: str) -> bool:
        return datetime.fromisoformat(at) < start

    return SampleCrm(story=story, contacts=contacts,
                     deals=deals + [d for d in report_deals if before(d["closed_at"])],
                     activities=activities + [a for a in report_purchases if before(a["occurred_at"])],
                     late_deals=[d for d in report_deals if not before(d["closed_at"])],
                     late_activities=[a for a in report_purchases if not before(a["occurred_at"])])
