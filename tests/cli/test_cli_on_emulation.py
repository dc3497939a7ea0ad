"""The `crm` CLI against the real HTTP API of the emulated template (not the fake): a marketer's whole session."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from crm_cli.app import app
from crm_local import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
ENV = {"COLUMNS": "160", "NO_COLOR": "1", "FORCE_COLOR": None, "CRM_API_URL": None, "CRM_LOCAL_TOKEN": None}


def test_create_preview_launch_and_watch_a_campaign_through_the_cli(tmp_path: Path) -> None:
    # Given the emulated API served on a local port, with three former customers (one without consent)
    with LocalCloud(template=str(ROOT / "template.yaml"), start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                    out_dir=tmp_path / "out", quiet=True, http_port=0,
                    parameters={"PublicBaseUrl": "https://crm.example.cz", "SendWindow": "always"}) as cloud:
        for key, last_name, consent in (("a", "Dvořák", True), ("b", "Novák", True), ("c", "Svoboda", False)):
            assert cloud.http("POST", "/contacts", json={
                "contact_id": key, "last_name": last_name, "first_name": "Petr", "email": f"{key}@example.cz",
                "owner": "petr.svoboda", "lifecycle": "former_customer",
                "marketing_consent": {"granted": consent}}).status == 201
        cloud.start_pump(interval=0.05)
        runner = CliRunner()

        def crm(*args: str, input: str | None = None):  # noqa: A002
            return runner.invoke(app, ["--api", cloud.http_url, "--token", cloud.token, *args], input=input,
                                 env=ENV)

        # When the marketer creates the campaign with the text filter
        created = crm("--json", "campaigns", "create", "--name", "Návrat", "--template", "newsletter",
                      "--segment-query", "lifecycle = former_customer")
        assert created.exit_code == 0, created.output
        campaign_id = json.loads(created.output)["campaign_id"]
        # And previews it
        preview = crm("campaigns", "preview", campaign_id, "--samples", "1")
        assert preview.exit_code == 0, preview.output
        assert "bez souhlasu s marketingem" in preview.output and "Dobrý den, pane Dvořáku" in preview.output
        # And launches it, watching the progress until it completes
        launched = crm("campaigns", "launch", campaign_id, "--yes", "--watch", "--interval", "0.2")
        assert launched.exit_code == 0, launched.output
        shown = crm("--json", "campaigns", "show", campaign_id)
        cloud.stop_pump()

    # Then the campaign is complete: two sent, one left out for want of consent
    campaign = json.loads(shown.output)
    assert campaign["status"] == "completed"
    assert campaign["progress"]["sent"] == 2 and campaign["progress"]["suppressed_by_reason"] == {"no_consent": 1}
    assert re.search(r"100\s*%", launched.output)
