"""Lead scoring (seed 004): profile points, behaviour points with daily caps and time decay, qualification."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_automation.domain import scoring, segments
from crm_automation.domain.models import ActivityKind, Lifecycle
from crm_automation.domain.scoring import ScoringConfig
from crm_automation.settings import Settings
from tests.factories import NOW, activity, contact

C = ScoringConfig()
S = Settings()
KINDS = [ActivityKind.FORM, ActivityKind.CHAT, ActivityKind.EMAIL_IN, ActivityKind.MEETING, ActivityKind.CALL,
         ActivityKind.PURCHASE, ActivityKind.CLICK, ActivityKind.OPEN, ActivityKind.PAGE_VIEW, ActivityKind.AD_VIEW,
         ActivityKind.UNSUBSCRIBE, ActivityKind.NOTE, ActivityKind.EMAIL_OUT]
FAST = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def lead(**overrides):
    return contact(**({"lifecycle": Lifecycle.LEAD, "qualified_at": None} | overrides))


def act(kind: ActivityKind, at: datetime = NOW, n: int = 1, **extra):
    return activity(activity_id=f"a-{kind.value}-{n}-{at.isoformat()}", kind=kind, direction="in", occurred_at=at,
                    **extra)


def apply_all(c, activities, now=NOW, config=C):
    for a in activities:
        c = scoring.add_activity(c, a, now, config)
    return c


# ------------------------------------------------------------------ profile and points


def test_profile_points_come_from_the_filled_in_fields() -> None:
    # Given a contact with e-mail, first and last name and company (the factory's), and one with everything
    partial = lead(phone=None)
    full = lead(phone="+420 777 123 456", company_fields={"Industry": "Strojírenství", "employees": 120})
    # Then: 5 + 3 + 2 + 5, and the whole profile 30 (field names ignore letter case)
    assert scoring.profile_points(partial, C) == 15
    assert scoring.profile_points(full, C) == 30
    # And blank values do not count
    assert scoring.profile_points(lead(phone="  ", company=None, company_fields={"industry": ""}), C) == 10


def test_the_profile_alone_never_qualifies_with_the_defaults() -> None:
    assert sum(C.profile.values()) < C.threshold


def test_a_new_contact_is_scored_from_its_profile() -> None:
    # When a never-scored contact is rescored
    scored = scoring.rescore(lead(), NOW, C)
    # Then its score is its profile points
    assert scored.lead_score == 15
    assert scored.score is not None and scored.score.profile == 15 and scored.score.behaviour == 0
    assert scored.score.at == NOW


@pytest.mark.parametrize(("kind", "direction", "automated", "points"), [
    (ActivityKind.FORM, "in", False, 15),
    (ActivityKind.OPEN, "in", False, 1),
    (ActivityKind.CLICK, "in", False, 5),
    (ActivityKind.PAGE_VIEW, "in", False, 2),
    (ActivityKind.AD_VIEW, "in", False, 1),
    (ActivityKind.MEETING, "out", False, 20),
    (ActivityKind.UNSUBSCRIBE, "in", False, -10),
    (ActivityKind.EMAIL_OUT, "out", True, 0),  # automated outbound mail: nothing
    (ActivityKind.EMAIL_OUT, "out", False, 0),
    (ActivityKind.CALL, "out", True, 0),  # anything a workflow sends or does itself
    (ActivityKind.NOTE, "internal", False, 0),
    (ActivityKind.BOUNCE, "in", False, 0),
])
def test_points_per_activity(kind, direction, automated, points) -> None:
    a = activity(kind=kind, direction=direction, automated=automated)
    assert scoring.points_for(a, C) == points


def test_a_form_adds_its_points_and_a_no_point_activity_changes_nothing() -> None:
    # Given a scored lead
    c = scoring.rescore(lead(), NOW, C)
    # When a form submission and an automated e-mail are applied
    after = scoring.add_activity(c, act(ActivityKind.FORM), NOW, C)
    same = scoring.add_activity(after, activity(kind=ActivityKind.EMAIL_OUT, automated=True), NOW, C)
    # Then the form earned 15 points (counted for the day), the e-mail nothing (the very same record comes back)
    assert after.lead_score == 30
    assert after.score.days == {"2026-06-01": {"form": 15}}
    assert same is after


# ------------------------------------------------------------------ daily caps


def test_a_hundred_opens_in_a_day_count_as_the_daily_cap() -> None:
    # Given a lead who opens the same e-mail 100 times on one day
    c = apply_all(lead(), [act(ActivityKind.OPEN, NOW - timedelta(minutes=i), i) for i in range(100)])
    # Then opens earned their daily cap (2 points), not 100
    assert c.score.days["2026-06-01"]["open"] == 2
    assert c.lead_score == 15 + 2


def test_caps_are_per_day() -> None:
    # Given opens on two days (Prague days: 23:30 UTC on 31 May is already 1 June in Prague)
    opens = [act(ActivityKind.OPEN, datetime.fromisoformat(t), i) for i, t in enumerate([
        "2026-05-31T12:00:00+00:00", "2026-05-31T13:00:00+00:00", "2026-05-31T14:00:00+00:00",
        "2026-05-31T23:30:00+00:00"])]
    c = apply_all(lead(), opens)
    assert c.score.days == {"2026-05-31": {"open": 2}, "2026-06-01": {"open": 1}}


@FAST
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 23 * 60)), max_size=60))
def test_caps_hold(events) -> None:
    # Given any activities on one day
    start = datetime.fromisoformat("2026-05-31T22:00:00+00:00")  # midnight in Prague
    c = apply_all(lead(), [act(k, start + timedelta(minutes=m), i) for i, (k, m) in enumerate(events)],
                  now=start + timedelta(hours=23, minutes=59))
    # Then no kind earned more than its cap, and the score is at most the profile plus all the caps
    counted = c.score.days.get("2026-06-01", {}) if c.score else {}
    for kind, points in counted.items():
        assert points <= C.daily_caps[ActivityKind(kind)]
    positive_caps = sum(cap for k, cap in C.daily_caps.items() if C.activities.get(k, 0) > 0)
    assert c.lead_score <= scoring.profile_points(c, C) + positive_caps


# ------------------------------------------------------------------ decay


def scored_with(behaviour: float, at: datetime = NOW, profile_fields: bool = True):
    c = scoring.rescore(lead() if profile_fields else lead(email=None, first_name=None, last_name=None,
                                                            company=None), at, C)
    return c.model_copy(update={"score": c.score.model_copy(update={"behaviour": behaviour})})


@FAST
@given(st.floats(0, 10_000), st.integers(0, 2000 * 24), st.integers(0, 2000 * 24))
def test_decay_is_monotone_without_new_events(behaviour, h1, h2) -> None:
    # Given a scored contact and two later moments
    c = scored_with(behaviour)
    early, late = sorted((NOW + timedelta(hours=h1), NOW + timedelta(hours=h2)))
    # Then the score never grows while nothing happens
    assert scoring.score_at(c, late, C) <= scoring.score_at(c, early, C)
    assert scoring.behaviour_at(c.score, late, C) <= scoring.behaviour_at(c.score, early, C)


@FAST
@given(st.floats(0.001, 10_000), st.floats(0.5, 365))
def test_behaviour_halves_at_the_half_life(behaviour, half_life) -> None:
    config = ScoringConfig(half_life_days=half_life)
    c = scored_with(behaviour)
    later = NOW + timedelta(days=half_life)
    assert math.isclose(scoring.behaviour_at(c.score, later, config), behaviour / 2, rel_tol=1e-9)
    # and a quarter after two half-lives, through a save in between (decay composes)
    mid = scoring.rescore(c, later, config)
    assert math.isclose(scoring.behaviour_at(mid.score, later + timedelta(days=half_life), config),
                        behaviour / 4, rel_tol=1e-5, abs_tol=1e-6)


def test_thirty_days_later_a_form_is_worth_half() -> None:
    c = apply_all(lead(email=None, first_name=None, last_name=None, company=None),
                  [act(ActivityKind.FORM, datetime.fromisoformat("2026-05-31T22:00:00+00:00"))])
    assert c.lead_score == 15
    # (the points count from the start of the day they were earned: midnight in Prague)
    assert math.isclose(scoring.behaviour_at(c.score, datetime.fromisoformat("2026-06-30T22:00:00+00:00"), C), 7.5,
                        rel_tol=1e-6)
    assert scoring.score_at(c, datetime.fromisoformat("2026-07-30T22:00:00+00:00"), C) == 4  # 3.75
    # Rescoring writes the decayed value
    assert scoring.rescore(c, datetime.fromisoformat("2026-07-30T22:00:00+00:00"), C).lead_score == 4


def test_a_contact_never_scored_keeps_its_stored_score() -> None:
    assert scoring.score_at(lead(lead_score=42), NOW + timedelta(days=400), C) == 42


# ------------------------------------------------------------------ order of application


@FAST
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 20 * 24 * 60)), min_size=1, max_size=30),
       st.randoms(use_true_random=False))
def test_the_order_of_application_does_not_matter(events, rnd) -> None:
    # Given activities over 20 days, applied in their order and in a shuffled one (each when it arrives, or all
    # at the end)
    activities = [act(k, NOW - timedelta(minutes=m), i) for i, (k, m) in enumerate(events)]
    shuffled = list(activities)
    rnd.shuffle(shuffled)
    base = scoring.rescore(lead(), NOW - timedelta(days=21), C)
    in_order = apply_all(base, activities)
    other = apply_all(base, shuffled)
    # Then the same points are counted per day and kind, and the same score results
    assert in_order.score.days == other.score.days
    assert math.isclose(in_order.score.behaviour, other.score.behaviour, abs_tol=1e-4)


def test_activities_older_than_max_age_earn_nothing() -> None:
    c = scoring.rescore(lead(), NOW, C)
    old = act(ActivityKind.FORM, NOW - timedelta(days=C.max_age_days + 1))
    assert scoring.add_activity(c, old, NOW, C) is c
    recent = act(ActivityKind.FORM, NOW - timedelta(days=C.max_age_days - 1))
    assert scoring.add_activity(c, recent, NOW, C).lead_score > c.lead_score


def test_old_day_counters_are_dropped() -> None:
    c = apply_all(lead(), [act(ActivityKind.FORM, NOW - timedelta(days=10))])
    assert list(c.score.days) == ["2026-05-22"]
    assert scoring.rescore(c, NOW + timedelta(days=C.max_age_days), C).score.days == {}


def test_negative_points_lower_the_score() -> None:
    c = apply_all(lead(), [act(ActivityKind.FORM), act(ActivityKind.UNSUBSCRIBE)])
    assert c.lead_score == 15 + 15 - 10


# ------------------------------------------------------------------ carried-over and hand-set scores


def test_a_carried_over_score_becomes_behaviour_above_the_profile() -> None:
    # Given a contact imported with a score of 80 (profile 15)
    c = scoring.rescore(lead(lead_score=80), NOW, C)
    # Then it keeps 80 now, and the 65 above the profile decays
    assert c.lead_score == 80 and c.score.behaviour == 65
    assert scoring.score_at(c, NOW + timedelta(days=30), C) == 15 + 33
    # And a carried-over score never starts below the profile points
    assert scoring.rescore(lead(lead_score=3), NOW, C).lead_score == 15


def test_a_hand_set_score_keeps_the_day_counters() -> None:
    c = apply_all(lead(), [act(ActivityKind.OPEN), act(ActivityKind.OPEN, n=2)])
    hand = scoring.set_score(c, 70, NOW, C)
    assert hand.lead_score == 70 and hand.score.days == c.score.days
    # a third open the same day still earns nothing
    assert scoring.add_activity(hand, act(ActivityKind.OPEN, n=3), NOW, C) is hand


# ------------------------------------------------------------------ qualification


def hot(**overrides):
    return apply_all(scoring.rescore(lead(**overrides), NOW, C),
                     [act(ActivityKind.FORM), act(ActivityKind.CLICK), act(ActivityKind.CLICK, n=2),
                      act(ActivityKind.CHAT)])


def test_a_lead_reaching_the_threshold_is_qualified_once() -> None:
    # Given a lead at 15 + 15 + 10 + 10 = 50 points
    c = hot()
    assert c.lead_score == 50
    # When qualification is decided
    q = scoring.qualify(c, NOW, C)
    # Then it is qualified now, and a later decision changes nothing (even after decaying and crossing again)
    assert q.qualified_at == NOW and scoring.newly_qualified(c, q)
    later = NOW + timedelta(days=90)
    again = scoring.qualify(apply_all(q, [act(ActivityKind.FORM, later)], now=later), later, C)
    assert again.qualified_at == NOW and not scoring.newly_qualified(q, again)


def test_below_the_threshold_nothing_happens() -> None:
    c = apply_all(scoring.rescore(lead(), NOW, C), [act(ActivityKind.FORM)])
    assert scoring.qualify(c, NOW, C) is c


@pytest.mark.parametrize("overrides", [{"lifecycle": Lifecycle.CUSTOMER}, {"lifecycle": Lifecycle.FORMER_CUSTOMER},
                                       {"archived": True}, {"archived_at": NOW}])
def test_customers_and_archived_contacts_are_scored_but_not_qualified(overrides) -> None:
    c = hot(**overrides)
    assert c.lead_score == 50
    assert scoring.qualify(c, NOW, C).qualified_at is None


def test_qualification_uses_the_decayed_score() -> None:
    c = hot()
    assert scoring.qualify(c, NOW + timedelta(days=30), C).qualified_at is None


def test_the_qualification_task_for_the_owner() -> None:
    c = scoring.qualify(hot(lead_source="form:kontakt"), NOW, C)
    task = scoring.qualification_task(c, NOW, S)
    assert task.task_id == "qualified-c-1" and task.owner == "petr.svoboda" and task.workflow == "lead_scoring"
    assert task.title == "Kvalifikovaný lead: Jana Nováková – ozvat se"
    assert "50" in task.description and "form:kontakt" in task.description
    assert task.due_date == date(2026, 6, 3)  # Monday + 2 days
    english = scoring.qualification_task(c, NOW, Settings(locale="en"))
    assert english.title == "Qualified lead: Jana Nováková – get in touch"
    # A lead known only by its e-mail is named by it
    nameless = c.model_copy(update={"first_name": None, "last_name": None, "company": None})
    assert scoring.qualification_task(nameless, NOW, S).title.endswith("jana.novakova@example.cz – ozvat se")


def test_the_task_is_due_on_a_working_day() -> None:
    friday = datetime.fromisoformat("2026-06-05T08:00:00+00:00")
    task = scoring.qualification_task(hot(), friday, S)
    assert task.due_date == date(2026, 6, 8)  # Sunday moves to Monday


# ------------------------------------------------------------------ configuration


def test_configuration_maps_merge_into_the_defaults() -> None:
    config = ScoringConfig.model_validate({"activities": {"open": 0}, "daily_caps": {"click": 5},
                                           "profile": {"custom.Obor": 4}, "threshold": 40})
    assert config.activities[ActivityKind.OPEN] == 0 and config.activities[ActivityKind.FORM] == 15
    assert config.daily_caps[ActivityKind.CLICK] == 5 and config.daily_caps[ActivityKind.OPEN] == 2
    assert config.profile["custom.Obor"] == 4 and config.profile["email"] == 5
    assert scoring.profile_points(lead(custom_fields={"obor": "Gastro"}), config) == 19


@pytest.mark.parametrize("bad", [{"profile": {"salary": 5}}, {"activities": {"telepathy": 5}},
                                 {"half_life_days": 0}, {"threshold": 0}, {"daily_caps": {"open": -1}},
                                 {"thresold": 50}])
def test_configuration_mistakes_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        ScoringConfig.model_validate(bad)


@pytest.mark.parametrize(("raw", "threshold"), [("", 50), ("{}", 50), ('{"threshold": 70}', 70)])
def test_lead_scoring_setting_from_the_environment(monkeypatch, raw, threshold) -> None:
    monkeypatch.setenv("LEAD_SCORING", raw)
    assert Settings().lead_scoring.threshold == threshold


# ------------------------------------------------------------------ segments on the decayed score


def test_segments_match_the_score_decayed_to_the_campaign_time() -> None:
    # Given a lead scored 50 today
    c = hot()
    node = segments.parse_query("lead_score >= 50")
    getter = lambda contact, when: scoring.score_at(contact, when, C)  # noqa: E731
    # Then it matches today, not a month later; without a getter the stored value is used
    assert segments.matches(node, c, NOW, lead_score=getter)
    assert not segments.matches(node, c, NOW + timedelta(days=30), lead_score=getter)
    assert segments.matches(node, c, NOW + timedelta(days=30))
    between = segments.parse_query("lead_score between 20 and 40 and lifecycle = lead")
    assert segments.matches(between, c, NOW + timedelta(days=30), lead_score=getter)


def test_a_fixed_shuffle_gives_the_same_score() -> None:
    # a fixed example of the order property, readable without hypothesis
    events = [act(k, NOW - timedelta(hours=h), h) for h, k in enumerate(KINDS * 3)]
    expected = apply_all(lead(), events)
    for seed in range(5):
        random.Random(seed).shuffle(events)
        got = apply_all(lead(), events)
        assert got.lead_score == expected.lead_score and got.score.days == expected.score.days
