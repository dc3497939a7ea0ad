"""The campaign segment filter language: fields and ops, precedence, both forms and their round trips, errors."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_automation.domain.models import Contact, DealBrief, DealStatus, Lifecycle
from crm_automation.domain.segments import (
    FIELDS,
    MAX_CONDITIONS,
    MAX_DEPTH,
    And,
    Condition,
    Node,
    Not,
    Or,
    Segment,
    SegmentError,
    compile_segment,
    dump,
    matches,
    normalize,
    parse_query,
    parse_segment,
    to_query,
)
from tests.factories import NOW, contact


def lost(reason: str | None = None, deal_id: str = "d-1") -> DealBrief:
    return DealBrief(deal_id=deal_id, status=DealStatus.LOST, loss_reason=reason)


def deal(status: DealStatus, deal_id: str = "d-2") -> DealBrief:
    return DealBrief(deal_id=deal_id, status=status)


def hit(query: str, c: Contact, now: datetime = NOW) -> bool:
    return matches(parse_query(query), c, now)


def cond(field: str, op: str, value: Any = None) -> Condition:
    return Condition(field=field, op=op, value=value)


# -------------------------------------------------------------------- every field and op


@pytest.mark.parametrize(
    ("query", "yes", "no"),
    [
        ('tag "Newsletter"', {"tags": ["Newsletter"]}, {"tags": ["VIP"]}),
        ('tag has "Newsletter"', {"tags": ["newsletter"]}, {"tags": []}),
        ('tag any ["A", "B"]', {"tags": ["X", "B"]}, {"tags": ["X"]}),
        ('tag all ["A", "B"]', {"tags": ["B", "A", "C"]}, {"tags": ["A"]}),
        ('category "Nutno řešit"', {"categories": ["Nutno řešit"]}, {"categories": ["Nutno"]}),
        ('category any ["x", "Nutno řešit"]', {"categories": ["NUTNO ŘEŠIT"]}, {"categories": []}),
        ('category all ["a", "b"]', {"categories": ["a", "b"]}, {"categories": ["a"]}),
        ('custom.segment = "B2B"', {"custom_fields": {"segment": "b2b"}}, {"custom_fields": {"segment": "B2C"}}),
        ('custom.segment != "B2B"', {"custom_fields": {"segment": "B2C"}}, {"custom_fields": {"segment": "B2B"}}),
        ('custom.segment in ["B2B", "Gov"]', {"custom_fields": {"segment": "gov"}}, {"custom_fields": {}}),
        ('custom.note contains "ZÁJEM"', {"custom_fields": {"note": "má zájem o demo"}},
         {"custom_fields": {"note": "bez zájmu"}}),
        ("custom.segment exists", {"custom_fields": {"segment": "x"}}, {"custom_fields": {"segment": "  "}}),
        ("custom.size > 10", {"custom_fields": {"size": 11}}, {"custom_fields": {"size": 10}}),
        ("custom.size >= 10", {"custom_fields": {"size": Decimal("10")}}, {"custom_fields": {"size": 9.5}}),
        ("custom.size < 10", {"custom_fields": {"size": "9"}}, {"custom_fields": {"size": "ten"}}),
        ("custom.size <= 10", {"custom_fields": {"size": "10,0"}}, {"custom_fields": {}}),
        ("custom.size = 10", {"custom_fields": {"size": 10.0}}, {"custom_fields": {"size": 10.5}}),
        ("custom.active = true", {"custom_fields": {"active": True}}, {"custom_fields": {"active": False}}),
        ('company = "Pekárna Novák s.r.o."', {"company": "pekárna novák S.R.O. "}, {"company": "Pekárna"}),
        ('company != "Pekárna"', {"company": "Jiná"}, {"company": "pekárna"}),
        ('company in ["A", "B"]', {"company": "b"}, {"company": None}),
        ('company contains "s.r.o."', {"company": "Novák s.r.o."}, {"company": "Novák a.s."}),
        ("company exists", {"company": "X"}, {"company": None}),
        ('company.industry = "Strojírenství"', {"company_fields": {"industry": "strojírenství"}},
         {"company_fields": {"industry": "Stavebnictví"}}),
        ('company.industry in ["Strojírenství", "Stavebnictví"]', {"company_fields": {"industry": "Stavebnictví"}},
         {"company_fields": {}}),
        ("company.employees > 50", {"company_fields": {"employees": 120}}, {"company_fields": {"employees": 50}}),
        ("company.employees exists", {"company_fields": {"employees": 0}}, {"company_fields": {"employees": None}}),
        ("lifecycle = former_customer", {"lifecycle": Lifecycle.FORMER_CUSTOMER}, {"lifecycle": Lifecycle.CUSTOMER}),
        ("lifecycle != lead", {"lifecycle": Lifecycle.CUSTOMER}, {"lifecycle": Lifecycle.LEAD}),
        ("lifecycle in [customer, former_customer]", {"lifecycle": Lifecycle.CUSTOMER}, {"lifecycle": Lifecycle.LEAD}),
        ("deal_status has lost", {"deals": [lost(), deal(DealStatus.OPEN)]}, {"deals": [deal(DealStatus.WON)]}),
        ("deal_status any [postponed, paused]", {"deals": [deal(DealStatus.PAUSED)]}, {"deals": []}),
        ("deal_status none open", {"deals": [lost()]}, {"deals": [lost(), deal(DealStatus.OPEN)]}),
        ('deal_loss_reason "Pomalý servis"', {"deals": [lost("pomalý servis")]}, {"deals": [lost("Cena")]}),
        ('deal_loss_reason any ["Cena", "Konkurence"]', {"deals": [lost("Cena")]}, {"deals": [lost()]}),
        ('deal_loss_reason contains "funkce"', {"deals": [lost("Chybějící funkce A")]}, {"deals": [lost("Cena")]}),
        ("last_activity within 30 days", {"last_activity_at": NOW - timedelta(days=30)},
         {"last_activity_at": NOW - timedelta(days=30, seconds=1)}),
        ("last_activity older than 180 days", {"last_activity_at": NOW - timedelta(days=181)},
         {"last_activity_at": NOW - timedelta(days=180)}),
        ("last_activity before 2026-01-01", {"last_activity_at": datetime(2025, 12, 31, 22, 59, tzinfo=UTC)},
         {"last_activity_at": datetime(2025, 12, 31, 23, 0, tzinfo=UTC)}),  # midnight in Prague (UTC+1)
        ("last_activity after 2025-06-30", {"last_activity_at": datetime(2025, 6, 30, 22, 0, tzinfo=UTC)},
         {"last_activity_at": datetime(2025, 6, 30, 21, 59, tzinfo=UTC)}),  # midnight in Prague (UTC+2, summer)
        ("lead_score = 50", {"lead_score": 50}, {"lead_score": 51}),
        ("lead_score != 50", {"lead_score": 51}, {"lead_score": 50}),
        ("lead_score > 50", {"lead_score": 51}, {"lead_score": 50}),
        ("lead_score >= 50", {"lead_score": 50}, {"lead_score": 49}),
        ("lead_score < 50", {"lead_score": 49}, {"lead_score": 50}),
        ("lead_score <= 50", {"lead_score": 50}, {"lead_score": 51}),
        ("lead_score between 20 and 80", {"lead_score": 80}, {"lead_score": 81}),
        ("lead_score between 20 and 80", {"lead_score": 20}, {"lead_score": 19}),
        ('owner = "jana.novakova"', {"owner": "Jana.Novakova"}, {"owner": "petr.svoboda"}),
        ("owner != jana.novakova", {"owner": "petr.svoboda"}, {"owner": "jana.novakova"}),
        ('owner in ["jana.novakova", "eva.mala"]', {"owner": "eva.mala"}, {"owner": "petr.svoboda"}),
    ],
)
def test_every_field_and_op_matches_and_does_not_match(query: str, yes: dict[str, Any], no: dict[str, Any]) -> None:
    # Given a segment and two contacts, one inside and one outside it
    # When / Then
    assert hit(query, contact(**yes)) is True
    assert hit(query, contact(**no)) is False


def test_the_win_back_segment_in_both_spellings() -> None:
    # Given former customers, one lost for missing feature A (on the custom field and on its deal), one for the price
    feature_a = contact(lifecycle=Lifecycle.FORMER_CUSTOMER, custom_fields={"Důvod ztráty": "Chybějící funkce A"},
                        deals=[lost("Chybějící funkce A")])
    price = contact(lifecycle=Lifecycle.FORMER_CUSTOMER, custom_fields={"Důvod ztráty": "Cena"}, deals=[lost("Cena")])
    still_customer = contact(lifecycle=Lifecycle.CUSTOMER, custom_fields={"Důvod ztráty": "Chybějící funkce A"},
                             deals=[lost("Chybějící funkce A")])
    # When the marketer writes it on the custom field or on the deals
    by_field = parse_query('lifecycle = former_customer and custom."Důvod ztráty" = "Chybějící funkce A"')
    by_deal = parse_query('lifecycle = former_customer and deal_loss_reason "Chybějící funkce A"')
    # Then both pick exactly the one contact
    for segment in (by_field, by_deal):
        assert [matches(segment, c, NOW) for c in (feature_a, price, still_customer)] == [True, False, False]


def test_missing_values_never_match_comparisons_but_match_ne() -> None:
    # Given a contact without the custom field, and one with a text that is not a number
    bare = contact(custom_fields={})
    texty = contact(custom_fields={"size": "velká"})
    # When / Then: comparisons and equality need a value; "not equal" is the negation of "equal"
    for query in ("custom.size > 0", "custom.size < 0", "custom.size = 0", 'custom.size contains "a"',
                  "custom.size exists"):
        assert not hit(query, bare)
    assert not hit("custom.size > 0", texty)
    assert not hit("custom.size <= 0", texty)
    assert hit('custom.size != "x"', bare)
    assert hit("not custom.size exists", bare)


def test_numbers_and_numeric_texts_compare_as_numbers() -> None:
    # Given a number stored as text by an import, and one stored as a DynamoDB Decimal
    c = contact(custom_fields={"employees": "120"}, company_fields={"employees": Decimal("120")})
    # When / Then
    assert hit('custom.employees = "120.0"', c)
    assert hit("custom.employees = 120", c)
    assert hit("company.employees >= 120", c)
    assert hit('company.employees in [1, "120"]', c)
    assert not hit('custom.employees = "12"', c)


def test_texts_compare_case_insensitively_after_nfc_and_strip() -> None:
    # Given values typed with other case, decomposed diacritics (as macOS pastes them) and stray spaces
    decomposed = unicodedata.normalize("NFD", "Stavebnictví")
    assert decomposed != "Stavebnictví"
    c = contact(tags=[" VIP "], company_fields={"Obor": decomposed.upper()}, custom_fields={"Důvod ztráty": "Cena"})
    # When / Then
    assert hit('tag "vip"', c)
    assert hit('company.Obor = "stavebnictví"', c)
    assert hit('company.obor contains "STAVEB"', c)
    assert hit('custom."důvod ztráty" = "CENA"', c)  # the field name too
    assert hit(f'custom."{unicodedata.normalize("NFD", "Důvod ztráty")}" = "cena"', c)


def test_czech_field_names_and_values_in_both_forms() -> None:
    # Given a segment on a custom field with a space and Czech letters in its name
    node = parse_query('custom."Důvod ztráty" in ["Chybějící funkce A", "Pomalý servis"] and custom.Obor = "Gastro"')
    # Then it reads as two conditions with the names as written
    assert node == And(and_=[cond("custom.Důvod ztráty", "in", ["Chybějící funkce A", "Pomalý servis"]),
                             cond("custom.Obor", "eq", "Gastro")])
    # And it survives both round trips
    assert parse_query(to_query(node)) == node
    assert parse_segment(json.loads(json.dumps(node.model_dump(), ensure_ascii=False))) == node
    assert to_query(node) == ('custom."Důvod ztráty" in ["Chybějící funkce A", "Pomalý servis"] '
                              'and custom.Obor = "Gastro"')


def test_last_activity_dates_follow_the_time_zone_argument() -> None:
    # Given an activity at 23:30 UTC on New Year's Eve: 00:30 on 1 January in Prague
    c = contact(last_activity_at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    node = parse_query("last_activity before 2026-01-01")
    # When / Then: in Prague it is not before the new year, in UTC it is
    assert not matches(node, c, NOW)
    assert matches(node, c, NOW, tz="UTC")


def test_within_and_older_than_are_complementary() -> None:
    for days_ago in (0, 29, 30, 31, 400):
        c = contact(last_activity_at=NOW - timedelta(days=days_ago))
        assert hit("last_activity within 30 days", c) is not hit("last_activity older than 30 days", c)


# -------------------------------------------------------------------- and / or / not


def test_and_binds_tighter_than_or() -> None:
    # When
    node = parse_query('tag "A" or tag "B" and tag "C"')
    # Then
    assert node == Or(or_=[cond("tag", "has", "A"), And(and_=[cond("tag", "has", "B"), cond("tag", "has", "C")])])
    assert hit('tag "A" or tag "B" and tag "C"', contact(tags=["A"]))
    assert not hit('(tag "A" or tag "B") and tag "C"', contact(tags=["A"]))


def test_not_binds_to_the_next_condition_or_group() -> None:
    assert parse_query('not tag "A" and tag "B"') == And(and_=[Not(not_=cond("tag", "has", "A")),
                                                               cond("tag", "has", "B")])
    assert parse_query('not (tag "A" and tag "B")') == Not(not_=And(and_=[cond("tag", "has", "A"),
                                                                          cond("tag", "has", "B")]))
    assert hit('not (tag "A" and tag "B")', contact(tags=["A"]))
    assert not hit('not tag "A" and tag "B"', contact(tags=["A", "B"]))
    assert hit('not not tag "A"', contact(tags=["A"]))


def test_keywords_and_field_names_are_case_insensitive() -> None:
    assert parse_query('TAG "x" AND NOT Lifecycle = Lead OR Last_Activity Older Than 3 Days') == parse_query(
        'tag "x" and not lifecycle = lead or last_activity older than 3 days')


def test_groups_are_flattened_and_groups_of_one_unwrapped() -> None:
    a, b, c = (cond("tag", "has", x) for x in "abc")
    assert parse_query('tag "a" and (tag "b" and tag "c")') == And(and_=[a, b, c])
    assert parse_query('((tag "a"))') == a
    assert parse_segment({"and": [{"or": [a.model_dump()]}]}) == a
    assert normalize(Or(or_=[Or(or_=[a, b]), c])) == Or(or_=[a, b, c])


def test_the_text_form_accepts_friendly_spellings() -> None:
    # Given ways a marketer may write the same thing
    same = [
        ('tag = "VIP"', 'tag "VIP"'),
        ("tag has VIP", 'tag "VIP"'),
        ('tag in ["A", "B",]', 'tag any ["A", "B"]'),
        ("deal_status in [lost, won]", "deal_status any [lost, won]"),
        ("deal_status = lost", "deal_status has lost"),
        ("tag „VIP“", 'tag "VIP"'),  # Czech typographic quotes
        ("tag 'VIP'", 'tag "VIP"'),
        ('lifecycle = "Former_Customer"', "lifecycle = former_customer"),
        ("lead_score == 5", "lead_score = 5"),
        ("last_activity within 1 day", "last_activity within 1 days"),
        ('company."Počet zaměstnanců" > 5', 'company."Počet zaměstnanců" > 5'),
        ("owner = jana.novakova", 'owner = "jana.novakova"'),
        ('tag\n  "a"\nand tag "b"', 'tag "a" and tag "b"'),
    ]
    for written, canonical in same:
        assert to_query(parse_query(written)) == canonical


# -------------------------------------------------------------------- the JSON form


def test_json_form_round_trip() -> None:
    # Given the JSON an API client sends
    body = {"and": [{"field": "lifecycle", "op": "eq", "value": "former_customer"},
                    {"or": [{"field": "deal_loss_reason", "op": "has", "value": "Chybějící funkce A"},
                            {"not": {"field": "custom.segment", "op": "exists"}}]},
                    {"field": "lead_score", "op": "between", "value": [20, 80]}]}
    # When
    node = parse_segment(body)
    # Then it dumps back to the same JSON (no "value" for exists) and to the same text as the text form parses
    assert node.model_dump() == body
    assert dump(node) == body
    assert parse_query(to_query(node)) == node
    assert to_query(node) == ('lifecycle = former_customer and (deal_loss_reason "Chybějící funkce A" '
                              "or not custom.segment exists) and lead_score between 20 and 80")


def test_json_form_is_normalised() -> None:
    node = parse_segment({"field": "Custom.Obor", "op": "EQ", "value": "x"})
    assert node == cond("custom.Obor", "eq", "x")
    assert parse_segment({"field": "lifecycle", "op": "in", "value": ["Customer", " lead"]}).value == ["customer",
                                                                                                        "lead"]


def test_segment_root_model_validates_api_bodies() -> None:
    # Given the pydantic type an API handler declares
    ok = Segment.model_validate({"not": {"field": "tag", "op": "has", "value": "VIP"}})
    # Then it holds the tree, dumps to JSON and can be matched directly
    assert ok.root == Not(not_=cond("tag", "has", "VIP"))
    assert ok.model_dump() == {"not": {"field": "tag", "op": "has", "value": "VIP"}}
    assert matches(ok, contact(tags=[]), NOW)
    assert to_query(ok) == 'not tag "VIP"'
    # And a bad body is a pydantic ValidationError carrying our message
    with pytest.raises(ValidationError, match="unknown field 'vip'"):
        Segment.model_validate({"field": "vip", "op": "has", "value": "x"})


def test_building_models_directly_validates_them() -> None:
    with pytest.raises(ValidationError, match="op 'gt' is not allowed for field 'tag'"):
        Condition(field="tag", op="gt", value=1)
    with pytest.raises(ValidationError):
        And(and_=[])


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"field": "lifecycel", "op": "eq", "value": "lead"},
         "unknown field 'lifecycel' (did you mean 'lifecycle'? known: tag, category, custom.<name>,"),
        ({"field": "custom.", "op": "exists"}, "field 'custom.' needs a name after the dot"),
        ({"field": 5, "op": "eq", "value": 1}, "'field' must be a text"),
        ({"field": "tag", "op": "gt", "value": 1}, "op 'gt' is not allowed for field 'tag' (allowed: has, has_any,"),
        ({"field": "tag", "op": ["has"], "value": "a"}, "op '['has']' is not allowed for field 'tag'"),
        ({"field": "lead_score", "op": "gt", "value": "50"}, "op 'gt' needs a number for field 'lead_score'"),
        ({"field": "lead_score", "op": "gt", "value": True}, "op 'gt' needs a number for field 'lead_score'"),
        ({"field": "lead_score", "op": "between", "value": [80, 20]}, "two numbers [low, high] with low <= high"),
        ({"field": "lifecycle", "op": "eq", "value": "ex_customer"},
         "unknown lifecycle 'ex_customer' for field 'lifecycle' (known: lead, customer, former_customer)"),
        ({"field": "deal_status", "op": "has_any", "value": ["lost", "closed"]},
         "unknown deal status 'closed' for field 'deal_status' (known: open, won, lost, postponed, paused)"),
        ({"field": "tag", "op": "has_any", "value": []}, "op 'has_any' needs a non-empty list of non-empty texts"),
        ({"field": "tag", "op": "has_any", "value": "VIP"}, "needs a non-empty list"),
        ({"field": "tag", "op": "has", "value": ["VIP"]}, "op 'has' needs a non-empty text for field 'tag'"),
        ({"field": "tag", "op": "has", "value": "  "}, "op 'has' needs a non-empty text"),
        ({"field": "custom.x", "op": "exists", "value": "y"}, "op 'exists' takes no value for field 'custom.x'"),
        ({"field": "custom.x", "op": "eq"}, "op 'eq' needs a non-empty text, a number or true/false"),
        ({"field": "last_activity", "op": "before", "value": "1. 1. 2026"}, "needs a date YYYY-MM-DD"),
        ({"field": "last_activity", "op": "before", "value": "2026-02-30"}, "needs a date YYYY-MM-DD"),
        ({"field": "last_activity", "op": "within_days", "value": -1}, "needs a whole number of days"),
        ({"field": "last_activity", "op": "within_days", "value": 1.5}, "needs a whole number of days"),
        ({"field": "owner", "op": "in", "value": ["x"] * 1001}, "takes at most 1000 values"),
        ({"and": []}, "'and' needs a non-empty list of conditions"),
        ({"or": {"field": "tag"}}, "'or' needs a non-empty list of conditions"),
        ({"and": [{"field": "tag", "op": "has", "value": "a"}], "or": []}, "'and' must be the only key"),
        ({"field": "tag", "op": "has", "value": "a", "extra": 1}, "a condition has the keys 'field', 'op' and"),
        ({"not": "tag"}, "not: expected an object"),
        ({"and": [{"field": "tag", "op": "has", "value": "a"}, {"not": {"field": "tag", "op": "gt", "value": 1}}]},
         "and[1].not: op 'gt' is not allowed for field 'tag'"),
    ],
)
def test_invalid_json_is_a_segment_error_with_a_helpful_message(body: Any, message: str) -> None:
    with pytest.raises(SegmentError) as caught:
        parse_segment(body)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lifecycle = former_customer and custom."Důvod ztráty" = ',
         "line 1, column 57: expected a value after '=', found end of text"),
        ("lifecycel = lead", "line 1, column 1: unknown field 'lifecycel' (did you mean 'lifecycle'?"),
        ('lead_score > "50"', "line 1, column 12: '>' needs a number for field 'lead_score'"),
        ("tag > 5", "line 1, column 5: '>' is not allowed for field 'tag' (allowed: a value, has, any or all)"),
        ("tag", "line 1, column 4: expected a value, has, any or all after 'tag', found end of text"),
        ("lead_score", "expected =, !=, >, >=, <, <= or between after 'lead_score'"),
        ("lifecycle = ex", "line 1, column 11: unknown lifecycle 'ex' for field 'lifecycle'"),
        ("deal_status has closed", "unknown deal status 'closed'"),
        ('(tag "a" or tag "b"', "line 1, column 20: expected ')' to close the '(' of column 1, found end of text"),
        ('tag "a" tag "b"', "line 1, column 9: expected 'and', 'or' or the end of the text, found 'tag'"),
        ('tag "a" and', "line 1, column 12: expected a condition such as"),
        ('tag "a" and or tag "b"', "line 1, column 13: expected a condition such as"),
        ('custom. = "x"', "line 1, column 9: expected a field name after 'custom.'"),
        ('custom."Důvod ztráty = "x"', 'line 1, column 26: this text has no closing "'),
        ('tag "VIP', "line 1, column 5: this text has no closing \""),
        ("tag #VIP", "line 1, column 5: unexpected character '#'"),
        ("tag any VIP", "line 1, column 9: expected a list after 'any'"),
        ('tag any ["a" "b"]', "line 1, column 14: expected ',' or ']' in the list, found '\"b\"'"),
        ("tag any []", "'any' needs a non-empty list"),
        ("last_activity within 30", "line 1, column 24: expected 'days' after 30"),
        ("last_activity older 30 days", "line 1, column 21: expected 'than' after 'older'"),
        ("last_activity within x days", "'within' needs a whole number of days"),
        ("last_activity before 31.12.2025", "line 1, column 15: 'before' needs a date YYYY-MM-DD"),
        ("last_activity before 2025-13-01", "'before' needs a date YYYY-MM-DD"),
        ("lead_score between 20 80", "expected 'and' after 'between 20'"),
        ("lead_score between 80 and 20", "'between' needs two numbers [low, high] with low <= high"),
        ("custom.x contains 5", "'contains' needs a non-empty text for field 'custom.x'"),
        ('tag "a" and\ncustom.x = ', "line 2, column 12: expected a value after '='"),
        ("custom.x exists 5", "expected 'and', 'or' or the end of the text, found '5'"),
    ],
)
def test_invalid_text_is_a_segment_error_with_line_and_column(text: str, message: str) -> None:
    with pytest.raises(SegmentError) as caught:
        parse_query(text)
    assert message in str(caught.value)
    assert caught.value.line is not None and caught.value.column is not None


def test_depth_and_size_are_limited() -> None:
    leaf: dict[str, Any] = {"field": "tag", "op": "has", "value": "a"}
    deep: dict[str, Any] = leaf
    for _ in range(MAX_DEPTH):
        deep = {"not": deep}
    with pytest.raises(SegmentError, match="nested too deeply"):
        parse_segment(deep)
    with pytest.raises(SegmentError, match="nested too deeply"):
        parse_query("not " * MAX_DEPTH + 'tag "a"')
    with pytest.raises(SegmentError, match="nested too deeply"):
        parse_query("(" * 500 + 'tag "a"' + ")" * 500)
    with pytest.raises(SegmentError, match="too many conditions"):
        parse_segment({"or": [leaf] * (MAX_CONDITIONS + 1)})
    with pytest.raises(SegmentError, match="too many conditions"):
        parse_query(" or ".join(['tag "a"'] * (MAX_CONDITIONS + 1)))
    # the limits themselves are fine
    assert parse_query("not " * (MAX_DEPTH - 1) + 'tag "a"')
    assert parse_segment({"or": [leaf] * MAX_CONDITIONS})


# -------------------------------------------------------------------- matching


def test_compiled_segment_gives_the_same_answers_as_matches() -> None:
    # Given a segment compiled once for a campaign run
    node = parse_query('lifecycle = customer and (tag any ["VIP", "Partner"] or lead_score >= 50)')
    run = compile_segment(node)
    contacts = [contact(lifecycle=Lifecycle.CUSTOMER, tags=["vip"]), contact(lifecycle=Lifecycle.CUSTOMER),
                contact(lifecycle=Lifecycle.CUSTOMER, lead_score=70), contact(tags=["VIP"])]
    # When / Then
    assert [run(c, NOW) for c in contacts] == [matches(node, c, NOW) for c in contacts] == [True, False, True, False]


def test_every_documented_field_has_ops() -> None:
    assert set(FIELDS) == {"tag", "category", "custom.<name>", "company", "company.<name>", "lifecycle",
                           "deal_status", "deal_loss_reason", "last_activity", "lead_score", "owner"}


# -------------------------------------------------------------------- properties


def _trees(texts: st.SearchStrategy[str], numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[Node]:
    def some(s: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
        return st.lists(s, min_size=1, max_size=3)

    lifecycles, statuses = st.sampled_from(list(Lifecycle)).map(str), st.sampled_from(list(DealStatus)).map(str)
    scalars = st.one_of(texts, numbers, st.booleans())
    values = {
        "text": texts, "texts": some(texts), "scalar": scalars, "scalars": some(scalars), "number": numbers,
        "range": st.lists(numbers, min_size=2, max_size=2).map(sorted), "nothing": st.none(),
        "days": st.integers(0, 3000), "lifecycle": lifecycles, "lifecycles": some(lifecycles),
        "deal_status": statuses, "deal_statuses": some(statuses),
        "date": st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat),
    }
    names = st.one_of(texts, st.sampled_from(["Obor", "Důvod ztráty", "x.y", "2nd", "and"]))
    kinds = [(field, op, kind) for field, ops in FIELDS.items() for op, kind in ops.items()]

    def condition(spec: tuple[str, str, str]) -> st.SearchStrategy[Node]:
        field, op, kind = spec
        fields = names.map(lambda n: field.replace("<name>", n)) if "<name>" in field else st.just(field)
        return st.builds(Condition, field=fields, op=st.just(op), value=values[kind])

    leaves = st.sampled_from(kinds).flatmap(condition)
    return st.recursive(leaves, lambda kids: st.one_of(
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(and_=xs)),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(or_=xs)),
        kids.map(lambda x: Not(not_=x))), max_leaves=10)


_any_text = st.text(min_size=1, max_size=15).filter(str.strip)
_any_number = st.one_of(st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False))
_CZ = ["VIP", "vip", "Strojírenství", "Chybějící funkce A", "Cena", "50", "x"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(_any_text, _any_number))
def test_random_trees_survive_both_round_trips(tree: Node) -> None:
    # Given any valid tree in its canonical form
    node = normalize(tree)
    # When it goes to JSON and back, and to text and back
    as_json = json.loads(json.dumps(dump(node)))
    # Then nothing changes
    assert parse_segment(as_json) == node
    assert parse_query(to_query(node)) == node
    # And a tree that is not canonical prints to text that reads as its canonical form
    assert parse_query(to_query(tree)) == node


_contacts = st.builds(
    contact,
    tags=st.lists(st.sampled_from(_CZ), max_size=3),
    categories=st.lists(st.sampled_from(_CZ), max_size=2),
    custom_fields=st.dictionaries(st.sampled_from(["Obor", "Důvod ztráty", "x"]),
                                  st.one_of(st.sampled_from(_CZ), st.integers(0, 100), st.none()), max_size=3),
    company_fields=st.dictionaries(st.sampled_from(["Obor", "x"]), st.one_of(st.sampled_from(_CZ),
                                                                              st.integers(0, 100)), max_size=2),
    company=st.one_of(st.none(), st.sampled_from(_CZ)),
    lifecycle=st.sampled_from(list(Lifecycle)),
    deals=st.lists(st.builds(DealBrief, deal_id=st.just("d"), status=st.sampled_from(list(DealStatus)),
                             loss_reason=st.one_of(st.none(), st.sampled_from(_CZ))), max_size=3),
    lead_score=st.integers(0, 100),
    last_activity_at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 6, 1),
                                  timezones=st.just(UTC)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(st.sampled_from(_CZ), st.integers(0, 100)), _contacts)
def test_not_x_is_the_negation_of_x(tree: Node, c: Contact) -> None:
    assert matches(Not(not_=tree), c, NOW) is (not matches(tree, c, NOW))
    # and the canonical form and the text round trip select the same contacts
    assert matches(parse_query(to_query(tree)), c, NOW) is matches(tree, c, NOW)
