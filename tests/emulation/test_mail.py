"""Sent e-mail is written as .eml files."""

from __future__ import annotations

import email
import email.policy

from crm_local import LocalCloud


def test_raw_send_is_written_as_eml(cloud: LocalCloud) -> None:
    # When the function sends a Raw MIME message through SESv2 from the configured sender
    response = cloud.http("POST", "/mail", json={"to": "jana.novakova@example.cz", "subject": "Dlouho jsme se neviděli"})
    # Then an .eml file a mail reader can open was written
    assert response.status == 202
    (path,) = cloud.mail_files
    assert path.parent == cloud.out_dir / "mail"
    assert path.name == "0001-2026-01-05-jana.novakova@example.cz.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "jana.novakova@example.cz"
    assert message["From"] == "robot@example.test"
    assert message["Subject"] == "Dlouho jsme se neviděli"
    assert message["Date"]  # added from the engine's clock
    assert "ozvěte se nám" in message.get_body(("plain",)).get_content()
    assert "<b>ozvěte se</b>" in message.get_body(("html",)).get_content()


def test_simple_send_is_written_as_eml(cloud: LocalCloud) -> None:
    cloud.http("POST", "/mail", json={"to": "petr@example.cz", "subject": "Ahoj", "simple": True})
    cloud.http("POST", "/mail", json={"to": "eva@example.cz", "subject": "Ahoj"})
    assert [p.name for p in cloud.mail_files] == [
        "0001-2026-01-05-petr@example.cz.eml", "0002-2026-01-05-eva@example.cz.eml",
    ]
    message = email.message_from_bytes(cloud.mail_files[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Ahoj" and message.get_content().strip() == "Dobrý den"
    assert len(cloud.mail_messages) == 2
