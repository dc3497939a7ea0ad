"""The remembering header factory of email/render.py: the same bytes as the email package's default policy, a
repeated header parsed and folded once, CR/LF still refused."""

from __future__ import annotations

import email.policy
import random
from email.headerregistry import Address

import pytest
from email.headerregistry import HeaderRegistry

from crm_automation.email import render
from crm_automation.email.render import RenderedEmail, build_message
from tests.factories import NOW

NAMES = ["Jana Nováková", "Petr Svoboda", "Ing. Jiří Kučera, Ph.D.", 'Tereza "Terka" Němcová', "", "O'Brien Zoë",
         "Marie-Thérèse de la Fontaine-Dvořáková von Hohenzollern-Sigmaringen und Lichtenštejn", "Müller; Šárka",
         "Jan <Novák>", "Řehoř Ďáblík ěščřžýáíé"]
SUBJECTS = ["Funkce A, která vám u nás chyběla, je tady", "Hello", "A" * 120,
            "Dlouho jsme se neslyšeli – můžeme vám s něčím pomoci? " * 3, "Sleva 20 % =?utf-8?q?x?= (jen dnes)"]
URL = "https://crm.example.cz/u/" + "MXxjLTAwMDAwMDB8Y21wLTEyMzQ1Njc4OTAxMnxra2tr" * 3 + ".K54ie8kEaonTbukk2pNMgg"


def _message(i: int, seed: int):
    random.seed(seed)  # the MIME boundary comes from `random`
    name = NAMES[i % len(NAMES)]
    rendered = RenderedEmail(subject=SUBJECTS[i % len(SUBJECTS)], text=f"{name},\n\nčeský text {i}\n" * (1 + i % 4),
                             html=f"<p>{name} – <strong>{i}</strong></p>\n" * (1 + i % 30))
    return build_message(
        rendered, sender_email="obchod@example.cz", sender_name=["Obchodní tým", "Petr Svoboda", "Team"][i % 3],
        to_email=f"klient{i}@example.cz", to_name=name or None, sent_at=NOW,
        reply_to="petr.svoboda@example.cz" if i % 2 else None,
        headers={"List-Unsubscribe": f"<{URL}{i}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "X-CRM-Campaign": f"cmp-{i % 3:012d}"})


@pytest.fixture
def fixed_message_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "make_msgid", lambda domain: f"<fixed.id@{domain}>")


@pytest.mark.usefixtures("fixed_message_id")
def _reference_policy() -> email.policy.EmailPolicy:
    """The email package's default policy, with only our one deliberate difference: List-Unsubscribe as is."""
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", render._AsIsHeader)
    return email.policy.default.clone(header_factory=registry)


def test_messages_are_byte_for_byte_what_the_default_policy_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given messages built (twice each, so the second time every repeated header comes from the factory's memory)
    monkeypatch.setattr(render, "make_msgid", lambda domain: f"<fixed.id@{domain}>")  # not time-dependent
    ours = [_message(i, seed=i).as_bytes() for i in range(60) for _ in range(2)]
    # When the same messages are built with the email package's default policy
    monkeypatch.setattr(render, "POLICY", _reference_policy())
    reference = [_message(i, seed=i).as_bytes() for i in range(60) for _ in range(2)]
    # Then every byte is the same, also as text with CRLF line ends and in a parser's eyes
    assert ours == reference
    monkeypatch.undo()
    monkeypatch.setattr(render, "make_msgid", lambda domain: f"<fixed.id@{domain}>")
    smtp = email.policy.SMTP
    ours_smtp = [_message(i, seed=i).as_bytes(policy=smtp) for i in range(12)]
    monkeypatch.setattr(render, "POLICY", _reference_policy())
    assert ours_smtp == [_message(i, seed=i).as_bytes(policy=smtp) for i in range(12)]


def test_a_header_every_message_repeats_is_parsed_once_and_folds_the_same_every_time() -> None:
    first, second = _message(3, seed=1), _message(33, seed=2)  # the same sender and subject, another recipient
    assert first["From"] is second["From"] and first["Subject"] is second["Subject"]
    assert first["To"] is not second["To"]  # another address
    header = first["Subject"]
    default_fold = email.policy.default.header_factory("Subject", str(header)).fold(policy=email.policy.default)
    assert header.fold(policy=render.POLICY) == header.fold(policy=render.POLICY) == default_fold
    # a policy with other settings folds anew, not from what the header remembered
    narrow = render.POLICY.clone(max_line_length=30, linesep="\r\n")
    assert header.fold(policy=narrow) == email.policy.default.clone(max_line_length=30, linesep="\r\n") \
        .header_factory("Subject", str(header)).fold(policy=narrow)


def test_the_factory_keeps_a_bounded_number_of_headers() -> None:
    factory = render.POLICY.header_factory
    for i in range(factory._KEEP + 10):
        factory("X-Test", f"value {i}")
    assert len(factory._made) <= factory._KEEP


def test_addresses_with_the_same_text_but_other_parts_are_different_headers() -> None:
    factory = render.POLICY.header_factory
    one = factory("To", Address(display_name="Jana", addr_spec="jana@example.cz"))
    other = factory("To", Address(display_name="Jana", addr_spec="jana@example.com"))
    assert one is not other and str(other) == "Jana <jana@example.com>"
    assert factory("to", "Jana <jana@example.cz>").name == "to"  # the name is kept as written


@pytest.mark.parametrize("field", ["subject", "to_name", "sender_name"])
def test_a_line_break_cannot_inject_a_header(field: str) -> None:
    values = {"subject": "Hello", "to_name": "Jana", "sender_name": "Obchod"}
    values[field] = "x\r\nBcc: victim@example.com"
    with pytest.raises(ValueError):
        build_message(RenderedEmail(subject=values["subject"], text="t", html="<p>h</p>"),
                      sender_email="obchod@example.cz", sender_name=values["sender_name"],
                      to_email="jana@example.cz", to_name=values["to_name"], sent_at=NOW)


def test_an_internationalised_domain_goes_out_in_its_idna_form_and_a_non_ascii_local_part_is_refused() -> None:
    # Given an address with a Czech domain (valid, and SES delivers it through IDNA)
    from crm_automation.domain.addresses import ascii_address
    from crm_automation.services.crm import ContactIn

    # When / Then: on the wire the domain is punycode, never an encoded-word
    assert ascii_address("jan@příklad.cz") == "jan@xn--pklad-zsa96e.cz"
    assert ascii_address("jan@example.cz") == "jan@example.cz"
    # and a local part SES cannot send to is refused where it enters (API, forms, chatbot, import)
    with pytest.raises(ValueError, match="before the @-sign"):
        ContactIn(last_name="X", owner="o", email="dmrppu+ß@example.com")
