"""``crm campaigns ...`` against the fake API: what is sent, what the marketer sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_automation.labels import DEFAULT_LABELS
from tests.cli.conftest import Crm
from tests.cli.fake_api import FakeApi

REASONS = {"unsubscribed": 3, "frequency_cap": 2, "erased": 1, "bounced": 1}
# The CLI's own wording for the reasons crm_automation.labels may not word (yet).
OWN = {"cs": {"erased": "Vymazán (GDPR)", "frequency_cap": "Limit e-mailů za týden"},
       "en": {"erased": "Erased (GDPR)", "frequency_cap": "Weekly e-mail limit"}}


def label(reason: str, lang: str = "cs") -> str:
    """What the product calls a reason: crm_automation.labels first, else the CLI's own wording."""
    return DEFAULT_LABELS[lang].get(f"reason_{reason}") or OWN[lang][reason]


def _seed_finished(api: FakeApi) -> None:
    api.seed("cmp-old", name="Podzimní novinky", status="completed", created_at="2026-01-10T08:00:00+00:00",
             progress={"audience": 120, "sent": 105, "suppressed": 7, "failed": 8, "suppressed_by_reason": REASONS})


def _cells(output: str, label: str) -> list[str]:
    """The cells of the table row whose first cell contains ``label`` (rich's box lines split on │)."""
    line = next(line for line in output.splitlines() if label in line)
    return line.split("│")[1:-1]


# --- create ---------------------------------------------------------------------------------------------------


def test_create_with_a_segment_query_sends_the_contract_body(api: FakeApi, crm: Crm) -> None:
    # Given an API with no campaigns
    # When a marketer creates a campaign from filter text
    result = crm("campaigns", "create", "--name", "Jarní akce", "--template", "spring_offer",
                 "--segment-query", "tag = VIP and city = Brno", "--send-at", "2026-03-03T09:00:00+01:00")
    # Then the API got exactly the contract's body (sender null, no segment object, no locale)
    assert result.exit_code == 0, result.output
    (call,) = api.calls("POST", "/campaigns")
    assert call.body == {"name": "Jarní akce", "template": "spring_offer",
                         "segment_query": "tag = VIP and city = Brno", "sender": None,
                         "send_at": "2026-03-03T09:00:00+01:00"}
    assert call.headers["content-type"] == "application/json"
    # And the created campaign is shown with the next steps
    assert "cmp-1" in result.output and "Jarní akce" in result.output and "koncept" in result.output
    assert "crm campaigns preview cmp-1" in result.output


def test_create_with_a_segment_file_sends_the_json_filter(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    # Given a segment filter saved as JSON
    segment = {"all": [{"field": "tags", "op": "contains", "value": "VIP"}, {"field": "city", "eq": "Brno"}]}
    path = tmp_path / "vip.json"
    path.write_text(json.dumps(segment), encoding="utf-8")
    # When the campaign is created from it, in English, sent as a given owner
    result = crm("campaigns", "create", "--name", "VIP Brno", "--template", "spring_offer",
                 "--segment-file", str(path), "--sender", "jnovak", "--locale", "en")
    # Then the filter object travels as "segment"
    assert result.exit_code == 0, result.output
    (call,) = api.calls("POST", "/campaigns")
    assert call.body == {"name": "VIP Brno", "template": "spring_offer", "segment": segment, "sender": "jnovak",
                         "send_at": None, "locale": "en"}


@pytest.mark.parametrize("segment_args", [[], ["--segment-query", "x", "--segment-file", "pyproject.toml"]])
def test_create_needs_exactly_one_segment_option(api: FakeApi, crm: Crm, segment_args: list[str]) -> None:
    # When neither or both segment options are given
    result = crm("campaigns", "create", "--name", "X", "--template", "t", *segment_args)
    # Then it is a usage error and nothing is sent
    assert result.exit_code == 2
    assert "--segment-query" in result.output
    assert api.calls("POST") == []


@pytest.mark.parametrize(("content", "error"), [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_create_rejects_a_bad_segment_file(api: FakeApi, crm: Crm, tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "segment.json"
    path.write_text(content, encoding="utf-8")
    result = crm("campaigns", "create", "--name", "X", "--template", "t", "--segment-file", str(path))
    assert result.exit_code == 2 and error in result.output
    assert api.calls("POST") == []


def test_create_rejects_send_at_without_a_time_zone(api: FakeApi, crm: Crm) -> None:
    result = crm("campaigns", "create", "--name", "X", "--template", "t", "--segment-query", "tag = VIP",
                 "--send-at", "2026-03-03T09:00:00")
    assert result.exit_code == 2 and "time zone" in result.output
    assert api.calls("POST") == []


def test_create_reports_the_servers_validation_detail_on_one_line(api: FakeApi, crm: Crm) -> None:
    # Given a server that rejects the body with pydantic details
    api.failures[("POST", "/campaigns")] = [(422, {"message": "invalid request", "detail": [
        {"loc": ["body", "send_at"], "msg": "Input should be in the future", "type": "value_error"}]})]
    # When the campaign is created
    result = crm("campaigns", "create", "--name", "X", "--template", "t", "--segment-query", "tag = VIP")
    # Then the message and the field's error make one line, exit 1
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: 422: invalid request; send_at: Input should be in the future"
    assert result.stdout == ""


# --- list / show ----------------------------------------------------------------------------------------------


def test_list_shows_a_table_newest_first_with_czech_statuses(api: FakeApi, crm: Crm) -> None:
    # Given a finished and a new campaign
    _seed_finished(api)
    api.seed("cmp-new", name="Jarní akce", created_at="2026-03-02T08:00:00+00:00")
    # When they are listed
    result = crm("campaigns", "list")
    # Then a table shows each with its status in Czech and its numbers
    assert result.exit_code == 0, result.output
    for heading in ("ID", "Název", "Stav", "Publikum", "Odesláno", "Vyřazeno", "Selhalo", "Vytvořeno"):
        assert heading in result.output
    cells = [c.strip() for c in _cells(result.output, "cmp-old")]
    assert cells[:7] == ["cmp-old", "Podzimní novinky", "dokončena", "120", "105", "7", "8"]
    assert cells[7] == "2026-01-10"  # the day (in local time) of 08:00 UTC
    assert "koncept" in _cells(result.output, "cmp-new")[2]
    assert result.output.index("cmp-new") < result.output.index("cmp-old")


def test_list_on_an_80_column_terminal_keeps_ids_and_numbers_whole(api: FakeApi, crm: Crm) -> None:
    # Given a long name, a 16-character id and five-digit numbers
    api.seed("cmp-f59ee6aef85f", name="Jarní akce 2026 pro VIP klienty v Brně", status="paused",
             progress={"audience": 12000, "sent": 10500, "suppressed": 700, "failed": 8})
    # When they are listed on an 80-column terminal
    result = crm("campaigns", "list", env={"COLUMNS": "80"})
    # Then no line is wider, and the id, the status and every number are there uncut (the name wraps)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    first = next(line for line in result.output.splitlines() if "cmp-f59ee6aef85f" in line)
    assert first.split() == ["cmp-f59ee6aef85f", "Jarní", "akce", "pozastavena", "12", "000", "10", "500", "700", "8"]
    assert "…" not in result.output


def test_list_without_campaigns_says_so(api: FakeApi, crm: Crm) -> None:
    result = crm("campaigns", "list")
    assert result.exit_code == 0 and "Zatím žádné kampaně" in result.output


def test_show_has_progress_with_czech_reason_labels_right_aligned(api: FakeApi, crm: Crm) -> None:
    # Given a completed campaign with suppressions of four kinds
    _seed_finished(api)
    # When it is shown
    result = crm("campaigns", "show", "cmp-old")
    # Then the details and the progress table are there
    assert result.exit_code == 0, result.output
    assert "Podzimní novinky" in result.output and "spring_offer" in result.output and "tag = VIP" in result.output
    # And each suppression reason has its Czech label from crm_automation.labels
    assert label("unsubscribed") == "odhlášen z odběru"
    assert label("bounced") == "poslední e-mail se vrátil jako nedoručitelný"
    for reason, count in [("unsubscribed", "3"), ("frequency_cap", "2"), ("erased", "1"), ("bounced", "1")]:
        cells = _cells(result.output, f"· {label(reason)}")
        # And its number is right-aligned (rich pads one space before the column border)
        assert cells[1].endswith(f" {count} ") and cells[1].strip() == count
    assert _cells(result.output, "Odesláno")[1].strip() == "105"
    assert _cells(result.output, "Odesláno")[2].strip() == "88 %"
    # And the reasons are listed most frequent first
    assert result.output.index(label("unsubscribed")) < result.output.index(label("frequency_cap"))


def test_reasons_labels_py_does_not_word_get_the_clis_own_wording(
    api: FakeApi, crm: Crm, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a crm_automation.labels without the two newest reasons, and a reason nobody words
    for lang in ("cs", "en"):
        for key in ("reason_erased", "reason_frequency_cap"):
            monkeypatch.delitem(DEFAULT_LABELS[lang], key, raising=False)
    _seed_finished(api)
    api.campaigns["cmp-old"]["progress"]["suppressed_by_reason"]["brand_new_reason"] = 4
    # When the campaign is shown in either language
    cs = crm("campaigns", "show", "cmp-old")
    en = crm("--lang", "en", "campaigns", "show", "cmp-old")
    # Then the CLI's wording stands in, and an unknown reason shows as its key
    assert "Vymazán (GDPR)" in cs.output and "Limit e-mailů za týden" in cs.output
    assert "Erased (GDPR)" in en.output and "Weekly e-mail limit" in en.output
    assert _cells(cs.output, "brand_new_reason")[1].strip() == "4"


def test_show_in_english(api: FakeApi, crm: Crm) -> None:
    _seed_finished(api)
    result = crm("--lang", "en", "campaigns", "show", "cmp-old")
    assert result.exit_code == 0, result.output
    for text in ("completed", "Sent", "88%", label("unsubscribed", "en"), label("erased", "en"),
                 label("frequency_cap", "en")):
        assert text in result.output


def test_unknown_campaign_is_a_one_line_404(api: FakeApi, crm: Crm) -> None:
    result = crm("campaigns", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: 404: campaign nope not found\n"


# --- preview --------------------------------------------------------------------------------------------------

SAMPLES = [
    {"contact_id": f"c-{n}", "name": name, "email": f"{login}@example.cz", "subject": f"Jaro je tu, {vocative}",
     "text": f"Dobrý den, {vocative},\njarní nabídka platí do konce měsíce.",
     "html": f"<html><body><p>Dobrý den, {vocative}</p></body></html>"}
    for n, (name, login, vocative) in enumerate(
        [("Jana Nováková", "jana", "paní Nováková"), ("Petr Svoboda", "petr", "pane Svobodo"),
         ("Eva Malá", "eva", "paní Malá")], 1)
]


def _seed_preview(api: FakeApi) -> None:
    api.seed("cmp-1")
    api.previews["cmp-1"] = {"audience": 12, "eligible": 7,
                             "excluded": {"unsubscribed": 2, "no_consent": 1, "erased": 1, "frequency_cap": 1},
                             "samples": SAMPLES}


def test_preview_shows_counts_exclusions_and_sample_emails(api: FakeApi, crm: Crm) -> None:
    # Given a draft whose segment matches 12 contacts, 5 of them excluded
    _seed_preview(api)
    # When it is previewed with two samples
    result = crm("campaigns", "preview", "cmp-1", "--samples", "2")
    # Then the API was asked for two samples
    assert result.exit_code == 0, result.output
    assert api.calls("POST", "/campaigns/cmp-1/preview")[0].body == {"samples": 2}
    # And audience, eligible and each exclusion reason appear with Czech labels and numbers
    assert _cells(result.output, "Publikum")[1].strip() == "12"
    assert [c.strip() for c in _cells(result.output, "Dostane e-mail")[1:]] == ["7", "58 %"]
    assert _cells(result.output, "Vyřazeno podle důvodu")[1].strip() == "5"
    assert label("no_consent") == "bez souhlasu s marketingem"
    for reason, count in [("unsubscribed", "2"), ("no_consent", "1"), ("erased", "1"), ("frequency_cap", "1")]:
        assert _cells(result.output, f"· {label(reason)}")[1].strip() == count
    # And each sample e-mail is a panel with its recipient, subject and text (no HTML unless asked)
    assert "Ukázka 1/2 · Jana Nováková <jana@example.cz>" in result.output
    assert "Předmět: Jaro je tu, pane Svobodo" in result.output
    assert "jarní nabídka platí do konce měsíce." in result.output
    assert "Eva Malá" not in result.output and "<html>" not in result.output


def test_preview_html_prints_the_source(api: FakeApi, crm: Crm) -> None:
    _seed_preview(api)
    result = crm("campaigns", "preview", "cmp-1", "--samples", "1", "--html")
    assert result.exit_code == 0, result.output
    assert "<p>Dobrý den, paní Nováková</p>" in result.output


def test_preview_save_dir_writes_one_html_file_per_sample(api: FakeApi, crm: Crm, tmp_path: Path) -> None:
    _seed_preview(api)
    result = crm("campaigns", "preview", "cmp-1", "--html", "--save-dir", str(tmp_path / "html"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == ["c-1.html", "c-2.html", "c-3.html"]
    assert (tmp_path / "html" / "c-2.html").read_text(encoding="utf-8") == SAMPLES[1]["html"]
    assert "HTML uloženo:" in result.output and "<html>" not in result.output


def test_preview_json_parses(api: FakeApi, crm: Crm) -> None:
    _seed_preview(api)
    result = crm("--json", "campaigns", "preview", "cmp-1", "--samples", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["eligible"] == 7 and data["excluded"]["erased"] == 1 and len(data["samples"]) == 1


# --- launch / watch / pause / resume --------------------------------------------------------------------------


def _seed_launchable(api: FakeApi) -> None:
    api.seed("cmp-1", progress={"audience": 0})
    api.previews["cmp-1"] = {"audience": 10, "eligible": 8, "excluded": {"unsubscribed": 2}, "samples": []}
    api.finals["cmp-1"] = {"audience": 10, "sent": 8, "suppressed": 2, "failed": 0,
                           "suppressed_by_reason": {"unsubscribed": 1, "frequency_cap": 1}}


def test_launch_yes_watch_polls_until_completed_and_shows_100_percent(api: FakeApi, crm: Crm) -> None:
    # Given a draft that takes three polls to finish
    _seed_launchable(api)
    # When it is launched without a question and watched
    result = crm("campaigns", "launch", "cmp-1", "--yes", "--watch", "--interval", "0")
    # Then it was launched once, without asking, and polled until completed
    assert result.exit_code == 0, result.output
    assert len(api.calls("POST", "/campaigns/cmp-1/launch")) == 1
    assert api.calls("POST", "/campaigns/cmp-1/preview") == []
    assert len(api.calls("GET", "/campaigns/cmp-1")) == api.steps == 3
    # And the progress bar ends full: 10 of 10 settled, with queued/waiting in its description
    assert "100 %" in result.output and "10/10" in result.output
    assert "ve frontě 0 · čeká 0" in result.output
    assert "Dokončena: odesláno 8, vyřazeno 2, selhalo 0 z 10." in result.output


def test_launch_without_yes_answering_no_sends_nothing(api: FakeApi, crm: Crm) -> None:
    # Given a draft with 8 of 10 contacts eligible
    _seed_launchable(api)
    # When launch is answered "n"
    result = crm("campaigns", "launch", "cmp-1", "--no-watch", input="n\n")
    # Then the question showed the audience, and nothing was launched
    assert "Spustit kampaň „Jarní akce“ (cmp-1) pro 8 z 10 kontaktů? [y/N]" in result.output
    assert "Nic nebylo spuštěno." in result.output
    assert result.exit_code == 1
    assert api.calls("POST", "/campaigns/cmp-1/launch") == []
    assert api.campaigns["cmp-1"]["status"] == "draft"


def test_launch_answering_yes_launches(api: FakeApi, crm: Crm) -> None:
    _seed_launchable(api)
    result = crm("campaigns", "launch", "cmp-1", "--no-watch", input="y\n")
    assert result.exit_code == 0, result.output
    assert len(api.calls("POST", "/campaigns/cmp-1/launch")) == 1
    assert "Kampaň „Jarní akce“ spuštěna: probíhá." in result.output
    assert "crm campaigns watch cmp-1" in result.output


def test_launch_does_not_watch_by_default_when_not_on_a_terminal(api: FakeApi, crm: Crm) -> None:
    # Given a draft, and output that is not a terminal (a script, a pipe)
    _seed_launchable(api)
    # When it is launched with neither --watch nor --no-watch
    result = crm("campaigns", "launch", "cmp-1", "--yes")
    # Then it is launched and not polled; the marketer learns how to watch
    assert result.exit_code == 0, result.output
    assert api.calls("GET") == [] and "crm campaigns watch cmp-1" in result.output


def test_launch_of_a_running_campaign_shows_the_conflict(api: FakeApi, crm: Crm) -> None:
    api.seed("cmp-1", status="running")
    result = crm("campaigns", "launch", "cmp-1", "--yes", "--no-watch")
    assert result.exit_code == 1
    assert result.stderr == "Error: 409: campaign cmp-1 is running, not a draft\n"


def test_launch_json_watch_prints_the_final_campaign(api: FakeApi, crm: Crm) -> None:
    _seed_launchable(api)
    result = crm("--json", "campaigns", "launch", "cmp-1", "--yes", "--watch", "--interval", "0")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "completed" and data["progress"]["sent"] == 8


def test_watch_rides_out_a_temporary_503(api: FakeApi, crm: Crm) -> None:
    # Given a running campaign whose API answers 503 once
    _seed_launchable(api)
    api.campaigns["cmp-1"]["status"] = "running"
    api.failures[("GET", "/campaigns/cmp-1")] = [(200, api.campaigns["cmp-1"]), (503, {"message": "retry"})]
    # When it is watched
    result = crm("campaigns", "watch", "cmp-1", "--interval", "0")
    # Then the watch carries on to completion
    assert result.exit_code == 0, result.output
    assert "100 %" in result.output and api.campaigns["cmp-1"]["status"] == "completed"


def test_ctrl_c_only_stops_watching(api: FakeApi, crm: Crm, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running campaign
    _seed_launchable(api)
    api.campaigns["cmp-1"]["status"] = "running"

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("crm_cli.app.sleep", interrupt)
    # When the marketer presses Ctrl-C while watching
    result = crm("campaigns", "watch", "cmp-1")
    # Then the watch ends quietly and the campaign was not paused
    assert result.exit_code == 0, result.output
    assert "Sledování ukončeno; kampaň běží dál" in result.output
    assert api.calls("POST") == [] and api.campaigns["cmp-1"]["status"] == "running"


def test_watch_of_a_draft_says_to_launch_it(api: FakeApi, crm: Crm) -> None:
    api.seed("cmp-1")
    result = crm("campaigns", "watch", "cmp-1")
    assert result.exit_code == 1 and "crm campaigns launch cmp-1" in result.stderr


def test_pause_and_resume(api: FakeApi, crm: Crm) -> None:
    # Given a running campaign
    api.seed("cmp-1", status="running", progress={"audience": 10, "sent": 4, "waiting": 6})
    # When it is paused
    paused = crm("campaigns", "pause", "cmp-1")
    # Then the API was asked to and the marketer learns how to continue
    assert paused.exit_code == 0, paused.output
    assert len(api.calls("POST", "/campaigns/cmp-1/pause")) == 1
    assert "pozastavena" in paused.output and "crm campaigns resume cmp-1" in paused.output
    assert "odesláno 4" in paused.output
    # When it is resumed
    resumed = crm("campaigns", "resume", "cmp-1")
    # Then it runs again
    assert resumed.exit_code == 0, resumed.output
    assert "probíhá" in resumed.output and api.campaigns["cmp-1"]["status"] == "running"


# --- --json ---------------------------------------------------------------------------------------------------


def test_json_output_parses(api: FakeApi, crm: Crm) -> None:
    _seed_finished(api)
    listed = crm("--json", "campaigns", "list")
    shown = crm("--json", "campaigns", "show", "cmp-old")
    assert listed.exit_code == shown.exit_code == 0
    assert [c["campaign_id"] for c in json.loads(listed.stdout)["campaigns"]] == ["cmp-old"]
    assert json.loads(shown.stdout)["progress"]["suppressed_by_reason"] == REASONS
