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


def test_a_new_run_starts_with_an_empty_mail_folder(tmp_path) -> None:
    from datetime import UTC, datetime

    from crm_local.mail import MailCollector

    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "0001-2026-01-01-old@example.cz.eml").write_text("old run")
    (folder / "notes.txt").write_text("not ours")
    MailCollector(tmp_path, "123456789012", "eu-central-1", lambda: datetime.now(UTC))
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
