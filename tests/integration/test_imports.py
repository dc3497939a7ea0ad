"""POST /imports/contacts on the emulated template: every outcome by line, consent only where a row states it (with
its ledger entry), suppressed and erased addresses stay out, re-runs and dry runs write nothing, bad bodies are 4xx."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_local import LocalCloud
from crm_automation.services import imports
from tests.integration.conftest import START, add_contact, runtime_for, table_items

HEADER = "E-mail;Jméno;Příjmení;Firma;Štítky;Souhlas;Souhlas kdy;Verze textu;custom.zdroj\n"


def post(cloud: LocalCloud, text: str | bytes, *, content_type: str = "text/csv; charset=utf-8",
         **query: Any) -> Any:
    params = {"source": "veletrh-2026.csv", **{k: str(v).lower() if isinstance(v, bool) else v
                                               for k, v in query.items()}}
    return cloud.http("POST", "/imports/contacts", body=text.encode("utf-8") if isinstance(text, str) else text,
                      headers={"content-type": content_type}, query=params)


def by_line(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {entry["line"]: entry for entry in report["entries"]}


def contacts(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """Live contacts by e-mail."""
    return {c["email"]: c for c in table_items(cloud, "ContactsTable") if c.get("email")}


def import_entries(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [e for e in table_items(cloud, "ConsentsTable") if e.get("channel") == "import"]


def given_the_crm(cloud: LocalCloud) -> None:
    """An existing contact (Jana), an address erased in the old CRM and one that unsubscribed."""
    add_contact(cloud, "jana", 10, email="jana.novakova@example.cz", marketing_consent=None)
    response = cloud.http("POST", "/suppressions", json={"source": "old-crm", "entries": [
        {"email": "roman.fiala@example.cz", "reason": "erased"},
        {"email": "zdenek.kolar@example.cz", "reason": "unsubscribed"}]})
    assert response.status == 200, response.body


FAIR_LIST = HEADER + (
    "petra.mala@example.cz;Petra;Malá;Malá Design;Veletrh|Brno;ano;1. 3. 2026 10:15;souhlas-2026-01;stánek\n"    # 2
    "Jana.Novakova@EXAMPLE.cz;Jana;Nováková;;Veletrh;ano;2026-03-01;souhlas-2026-01;\n"                       # 3
    "roman.fiala@example.cz;Roman;Fiala;;;ano;2026-03-01;souhlas-2026-01;\n"                                  # 4
    "zdenek.kolar@example.cz;Zdeněk;Kolář;;;ano;2026-03-01;souhlas-2026-01;\n"                                # 5
    "ivana.benesova@example.cz;Ivana;Benešová;;;;;;\n"                                                        # 6
    "karel.example.cz;Karel;Beneš;;;ano;2026-03-01;;\n"                                                       # 7
    "eva.cerna@example.cz;Eva;Černá;;;ano;příští týden;;\n"                                                   # 8
    "PETRA.MALA@example.cz;Petra;Malá;Malá Design s.r.o.;;ano;2026-03-01 12:00;souhlas-2026-01;\n"            # 9
)


def test_every_outcome_is_reported_by_line_and_only_stated_consent_is_recorded(cloud: LocalCloud) -> None:
    # Given the CRM with an existing contact and two suppressed addresses
    given_the_crm(cloud)
    # When the fair's list is imported
    response = post(cloud, FAIR_LIST)
    # Then every row has its outcome
    assert response.status == 200, response.body
    report = response.json()
    assert report["counts"] == {"created": 1, "updated": 2, "unchanged": 0, "skipped_suppressed": 2,
                                "skipped_no_consent": 1, "invalid": 2}
    assert report["complete"] is True and report["rows"] == report["processed"] == 8
    entries = by_line(report)
    assert sorted(entries) == [4, 5, 6, 7, 8, 9]
    assert (entries[4]["outcome"], entries[4]["suppression"]) == ("skipped_suppressed", "erased")
    assert (entries[5]["outcome"], entries[5]["suppression"]) == ("skipped_suppressed", "unsubscribed")
    assert entries[6]["outcome"] == "skipped_no_consent"
    assert (entries[7]["outcome"], entries[7]["column"]) == ("invalid", "E-mail")
    assert (entries[8]["outcome"], entries[8]["column"]) == ("invalid", "Souhlas kdy")
    assert (entries[9]["outcome"], entries[9]["duplicate_of"]) == ("updated", 2)
    # And the new contact has its consent, the existing one (other letter case) is updated, not duplicated
    people = contacts(cloud)
    petra, jana = people["petra.mala@example.cz"], people["jana.novakova@example.cz"]
    assert jana["contact_id"] == "jana" and jana["marketing_consent"]["granted"] is True
    assert report["contact_ids"] == {"created": [petra["contact_id"]], "updated": ["jana", petra["contact_id"]]}
    assert petra["company"] == "Malá Design s.r.o." and set(petra["tags"]) == {"Veletrh", "Brno"}
    assert petra["custom_fields"] == {"zdroj": "stánek"} and petra["lead_source"] == "import:veletrh-2026.csv"
    assert petra["marketing_consent"]["text_version"] == "souhlas-2026-01"
    # And nothing was written for the suppressed, unconsented or invalid rows
    assert not {"roman.fiala@example.cz", "zdenek.kolar@example.cz", "ivana.benesova@example.cz",
                "eva.cerna@example.cz"} & set(people)
    # And the ledger holds one import entry per consented row, with the file and the line
    ledger = sorted(import_entries(cloud), key=lambda e: int(e["metadata"]["line"]))
    assert [(e["contact_id"], e["metadata"]["line"], e["metadata"]["file"]) for e in ledger] == [
        (petra["contact_id"], "2", "veletrh-2026.csv"), ("jana", "3", "veletrh-2026.csv"),
        (petra["contact_id"], "9", "veletrh-2026.csv")]
    assert {(e["state"], e["source"], e["text_version"]) for e in ledger} == {
        ("granted", "import:veletrh-2026.csv", "souhlas-2026-01")}
    assert ledger[0]["at"].startswith("2026-03-01T09:15:00")  # 10:15 Prague time


def test_running_the_file_again_changes_nothing(cloud: LocalCloud) -> None:
    # Given the list imported once
    given_the_crm(cloud)
    assert post(cloud, FAIR_LIST).status == 200
    before = (table_items(cloud, "ContactsTable"), table_items(cloud, "ConsentsTable"))
    # When the same file is imported again
    report = post(cloud, FAIR_LIST).json()
    # Then the written rows are unchanged, the others reported as before, and nothing was written
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "skipped_suppressed": 2,
                                "skipped_no_consent": 1, "invalid": 2}
    assert {line for line, e in by_line(report).items() if e["outcome"] == "unchanged"} == {2, 3, 9}
    assert (table_items(cloud, "ContactsTable"), table_items(cloud, "ConsentsTable")) == before


def test_a_dry_run_reports_the_outcomes_and_writes_nothing(cloud: LocalCloud) -> None:
    given_the_crm(cloud)
    tables = ("ContactsTable", "ConsentsTable", "FlowsTable", "AddressesTable", "ActivitiesTable")
    before = [table_items(cloud, t) for t in tables]
    report = post(cloud, FAIR_LIST, dry_run=True).json()
    assert report["dry_run"] is True
    assert report["counts"] == {"created": 1, "updated": 2, "unchanged": 0, "skipped_suppressed": 2,
                                "skipped_no_consent": 1, "invalid": 2}
    assert [table_items(cloud, t) for t in tables] == before


def test_without_required_consent_rows_come_in_without_marketing_consent(cloud: LocalCloud) -> None:
    # Given a migration from another CRM: most rows say nothing about consent, one says "ne"
    text = HEADER + ("a@example.cz;Adam;Novák;;;;;;\n"
                     "b@example.cz;Běla;Nová;;;ne;;;\n"
                     "c@example.cz;Cyril;Malý;;;ano;2025-12-01;v1;\n")
    # When it is imported with require_consent=false
    report = post(cloud, text, require_consent=False, owner="martin.kral").json()
    # Then all three are created, only the third with consent (and a ledger entry)
    assert report["counts"]["created"] == 3 and report["entries"] == []
    people = contacts(cloud)
    assert people["a@example.cz"].get("marketing_consent") is None
    assert people["b@example.cz"].get("marketing_consent") is None
    assert people["c@example.cz"]["marketing_consent"]["granted"] is True
    assert {p["owner"] for p in people.values()} == {"martin.kral"}
    assert [e["contact_id"] for e in import_entries(cloud)] == [people["c@example.cz"]["contact_id"]]


def test_an_old_consent_in_a_list_does_not_undo_a_withdrawal_given_on_the_phone(cloud: LocalCloud) -> None:
    # Given a former customer who withdrew her marketing consent on the phone (recorded now, 2026-03-02)
    add_contact(cloud, "olga", 10, email="olga.dvorakova@example.cz", lifecycle="former_customer")
    withdrawal = cloud.http("POST", "/contacts/olga/consents", json={"granted": False, "source": "phone"})
    assert withdrawal.status == 201, withdrawal.body
    # When an old list still says she consented (in 2024)
    row = "olga.dvorakova@example.cz;Olga;Dvořáková;;Veletrh;ano;2024-01-01;souhlas-2023;\n"
    report = post(cloud, HEADER + row).json()
    # Then the row is skipped as without consent, saying why, and nothing is written
    assert report["counts"]["skipped_no_consent"] == 1 and report["counts"]["updated"] == 0
    [entry] = report["entries"]
    assert entry["outcome"] == "skipped_no_consent" and entry["reason"].startswith("consent withdrawn later (")
    assert entry["withdrawn_at"].startswith("2026-03-02")
    assert import_entries(cloud) == []
    # And imported without required consent, the row updates her but its consent is history only
    report = post(cloud, HEADER + row, source="crm-migrace.csv", require_consent=False).json()
    assert report["counts"]["updated"] == 1 and "withdrawn later" in by_line(report)[2]["reason"]
    [old] = import_entries(cloud)
    assert old["state"] == "granted" and old["effective"] is False and old["at"].startswith("2023-12-31T23:00")
    olga = contacts(cloud)["olga.dvorakova@example.cz"]
    assert olga["marketing_consent"]["granted"] is False and "Veletrh" in olga["tags"]
    # And a campaign leaves her out for want of consent
    campaign_id = cloud.http("POST", "/campaigns", json={
        "name": "Win-back", "template": "winback_feature_a", "segment_query": "lifecycle = former_customer"}
    ).json()["campaign_id"]
    preview = cloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 1}).json()
    assert preview["excluded"] == {"no_consent": 1} and preview["eligible"] == 0


def test_an_erased_person_stays_out_when_a_purchased_list_brings_them_back(cloud: LocalCloud) -> None:
    # Given a contact erased under GDPR Art. 17
    add_contact(cloud, "erased", 10, email="lucie.vesela@example.cz")
    erased = cloud.http("POST", "/contacts/erased/erase", json={"confirm": "erased"})
    assert erased.status == 200, erased.body
    # When a list with her address (and consent) is imported
    report = post(cloud, HEADER + "Lucie.Vesela@example.cz;Lucie;Veselá;;;ano;2026-02-01;v1;\n").json()
    # Then the row is skipped as erased and she is not back
    assert by_line(report)[2]["suppression"] == "erased" and report["counts"]["skipped_suppressed"] == 1
    assert "lucie.vesela@example.cz" not in contacts(cloud)
    assert import_entries(cloud) == []


def test_first_line_numbers_a_part_of_a_bigger_file(cloud: LocalCloud) -> None:
    report = post(cloud, HEADER + "x@example.cz;X;;;;;;;\nnot-an-address;;;;;ano;2026-01-01;;\n",
                  first_line=1002).json()
    assert [(e["line"], e["outcome"]) for e in report["entries"]] == [(1002, "skipped_no_consent"),
                                                                      (1003, "invalid")]


def test_a_request_out_of_time_stops_between_rows_and_the_rest_follows(cloud: LocalCloud) -> None:
    # Given a migration list of five rows and an import that runs out of time after two rows
    rt = runtime_for(cloud)
    body = HEADER + "".join(f"p{i}@example.cz;P;{i};;;;;;\n" for i in range(5))
    calls = iter([False, False, True])
    first = imports.import_contacts(rt, body.encode(), START, source="big.csv", require_consent=False,
                                    out_of_time=lambda: next(calls))
    # Then it reports where to go on, having written whole rows only
    assert (first["complete"], first["next_line"], first["counts"]["created"]) == (False, 4, 2)
    assert len(contacts(cloud)) == 2
    # When the client sends the rest from that line (the same file again would also do: replays are unchanged)
    rest = HEADER + "".join(body.splitlines(keepends=True)[3:])
    second = imports.import_contacts(rt, rest.encode(), START, source="big.csv", require_consent=False,
                                     first_line=first["next_line"])
    # Then everything is in
    assert second["complete"] is True and second["counts"]["created"] == 3
    assert len(contacts(cloud)) == 5


def test_a_windows_1250_file_is_a_400_naming_the_encoding_and_writes_nothing(cloud: LocalCloud) -> None:
    response = post(cloud, (HEADER + "sarka@example.cz;Šárka;Nová;;;;;;\n").encode("cp1250"))
    assert response.status == 400
    assert "not UTF-8: byte 0x" in response.json()["message"]
    assert contacts(cloud) == {}


def test_limits_and_unreadable_bodies_are_4xx(cloud: LocalCloud) -> None:
    too_many = HEADER + "".join(f"r{i}@example.cz;;;;;;;;\n" for i in range(imports.contact_import.MAX_ROWS + 1))
    assert post(cloud, too_many).status == 413
    assert "more than 5,000 rows" in post(cloud, too_many).json()["message"]
    assert post(cloud, b"\xff" * 10).status == 400
    assert post(cloud, "").status == 400
    unknown = post(cloud, "email;barva\na@example.cz;modrá\n")
    assert unknown.status == 400 and "'barva'" in unknown.json()["message"]
    assert post(cloud, HEADER, content_type="application/json").status == 415
    assert post(cloud, HEADER, content_type="text/csv; charset=windows-1250").status == 415
    missing_source = cloud.http("POST", "/imports/contacts", body=HEADER, headers={"content-type": "text/csv"})
    assert missing_source.status == 422 and "source" in missing_source.json()["message"]
    assert post(cloud, HEADER, first_line=1).status == 422
    assert post(cloud, HEADER, owner="bad owner").status == 422
    unauthenticated = cloud.http("POST", "/imports/contacts", body=HEADER, headers={"content-type": "text/csv"},
                                 query={"source": "x"}, token=None)
    assert unauthenticated.status in (401, 403)
    assert contacts(cloud) == {}


_HEADERS = ["email", "E-mail", "jméno", "příjmení", "souhlas", "souhlas_kdy", "štítky", "custom.x", "firma.y",
            "vlastník", "verze_textu", "zdroj_souhlasu", ""]
_cell = st.text(max_size=25) | st.sampled_from(["ano", "ne", "1. 3. 2026", "2026-13-01", "a@b.cz", "A@B.CZ",
                                                '"', '""', "\r", "\n", "x" * 300, "a|b|", "\x00"])
_csv = st.builds(
    lambda header, rows, delimiter: delimiter.join(header) + "\n" + "\n".join(delimiter.join(r) for r in rows),
    st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=6),
    st.lists(st.lists(_cell, max_size=7), max_size=6),
    st.sampled_from([";", ",", "\t"]),
).map(lambda text: text.encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200) | _csv, dry_run=st.booleans(), require_consent=st.booleans(),
       first_line=st.integers(min_value=-2, max_value=10**9))
def test_any_body_gets_an_answer_below_500(cloud: LocalCloud, body: bytes, dry_run: bool, require_consent: bool,
                                           first_line: int) -> None:
    # Given any body and parameters, When it is posted, Then the answer is never a 5xx, and a 4xx writes nothing
    before = len(table_items(cloud, "ContactsTable"))
    response = post(cloud, body, dry_run=dry_run, require_consent=require_consent, first_line=first_line)
    assert response.status < 500, response.body
    if response.status >= 400 or dry_run:
        assert len(table_items(cloud, "ContactsTable")) == before
