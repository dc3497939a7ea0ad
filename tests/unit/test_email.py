"""E-mail rendering: real MIME, UTF-8, autoescaped HTML, no header injection."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from crm_automation.email.render import build_message, render, time_ago
from crm_automation.settings import Settings
from datetime import UTC, datetime

from tests.factories import NOW

S = Settings()


def _context(**overrides):
    return {"first_name": "Jana", "last_name": "Nováková", "company": "Pekárna", "last_contact": "před 7 měsíci",
            "sender_name": "Obchodní tým"} | overrides


def test_reactivation_email_is_multipart_utf8_and_opens_in_a_mail_client() -> None:
    # Given the Czech template
    rendered = render(S.templates_dir, "inactivity_reactivation", "cs", _context())
    # When it is built into a message
    raw = build_message(rendered, sender_email="obchod@example.cz", sender_name="Obchodní tým",
                        to_email="jana@example.cz", to_name="Jana Nováková", sent_at=NOW).as_bytes()
    # Then a parser sees a text and an HTML part with the Czech text intact
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Dlouho jsme se neslyšeli – můžeme vám s něčím pomoci?"
    assert str(parsed["To"]) == "Jana Nováková <jana@example.cz>"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "naposledy jsme spolu byli v kontaktu před 7 měsíci" in text
    assert "<strong>Pekárna</strong>" in html


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = render(S.templates_dir, "inactivity_reactivation", "cs", _context(company="<script>x</script> & Co"))
    assert "<script>" not in rendered.html and "&lt;script&gt;x&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>x</script> & Co" in rendered.text


def test_a_name_cannot_inject_headers() -> None:
    rendered = render(S.templates_dir, "inactivity_reactivation", "cs", _context())
    with pytest.raises(ValueError):
        build_message(rendered, sender_email="obchod@example.cz", sender_name="Obchod",
                      to_email="jana@example.cz", to_name="Jana\r\nBcc: victim@example.com", sent_at=NOW)


def test_english_template_exists_with_the_same_context() -> None:
    rendered = render(S.templates_dir, "inactivity_reactivation", "en", _context(last_contact="7 months ago"))
    assert "we were last in touch 7 months ago" in rendered.text


@pytest.mark.parametrize(
    ("days", "cs", "en"),
    [(1, "včera", "yesterday"), (10, "před 10 dny", "10 days ago"), (30, "před 30 dny", "30 days ago"),
     (61, "před 2 měsíci", "2 months ago"), (213, "před 7 měsíci", "7 months ago"), (365, "před rokem", "a year ago"),
     (800, "před 2 lety", "2 years ago")],
)
def test_time_ago_uses_czech_plural_forms(days: int, cs: str, en: str) -> None:
    assert time_ago(days, "cs") == cs
    assert time_ago(days, "en") == en


def test_time_ago_today() -> None:
    assert (time_ago(0, "cs"), time_ago(0, "en")) == ("dnes", "today")


@pytest.mark.parametrize("template", ["inactivity_reactivation", "deal_reactivation"])
@pytest.mark.parametrize("locale", ["cs", "en"])
def test_a_company_name_ending_in_a_full_stop_gets_no_second_one(template: str, locale: str) -> None:
    from crm_automation.settings import get_settings

    context = {"first_name": "Jana", "last_name": "Nováková", "greeting": "Dobrý den,", "deal_title": "Servis",
               "company": "Pekárna s.r.o.", "last_contact": "včera", "sender_name": "Tým", "owner_name": "Petr",
               "owner_gender": "m"}
    rendered = render(get_settings().templates_dir, template, locale, context)
    assert "s.r.o.." not in rendered.text and "s.r.o.</strong>." not in rendered.html


def test_the_inactivity_email_carries_a_visible_unsubscribe_link_when_given():
    # Given the signed link of the recipient
    url = "https://crm.example.cz/u/abc.def?x=1&y=2"
    rendered = render(S.templates_dir, "inactivity_reactivation", "cs", _context() | {"unsubscribe_url": url})
    # Then both parts show it (the HTML escaped)
    assert f"Odhlásit odběr: {url}" in rendered.text
    assert 'href="https://crm.example.cz/u/abc.def?x=1&amp;y=2"' in rendered.html
    # And without one (a preview of the template alone) there is no footer
    assert "Odhlásit" not in render(S.templates_dir, "inactivity_reactivation", "cs", _context()).text


def test_list_unsubscribe_reaches_the_wire_as_a_plain_url_however_long():
    # Given a signed unsubscribe URL longer than the 78-character folding width
    url = "https://crm.example.cz/u/" + "A" * 150 + ".tag"
    rendered = render(S.templates_dir, "inactivity_reactivation", "cs", _context() | {"unsubscribe_url": url})
    message = build_message(rendered, sender_email="obchod@example.cz", sender_name="Obchodní tým",
                            to_email="jana@example.cz", to_name="Jana Nováková", sent_at=datetime(2026, 6, 1, tzinfo=UTC),
                            headers={"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    # Then the raw bytes carry it verbatim on one line (not an RFC 2047 encoded word a mail client would not decode)
    raw = message.as_bytes()
    assert f"List-Unsubscribe: <{url}>\n".encode() in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n" in raw
    # And a line break in it is still refused (no header injection)
    with pytest.raises(ValueError):
        build_message(rendered, sender_email="obchod@example.cz", sender_name="x", to_email="jana@example.cz",
                      to_name=None, sent_at=datetime(2026, 6, 1, tzinfo=UTC),
                      headers={"List-Unsubscribe": "<https://x>\r\nBcc: victim@example.cz"})
