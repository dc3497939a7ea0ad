"""Fixtures of the ``crm`` CLI tests: the fake API on 127.0.0.1:0 and a runner that calls the typer app in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from crm_cli.app import app
from tests.cli.fake_api import FakeApi

# Wide enough that no table cell wraps; no colour codes; nothing from the developer's shell leaks in.
ENV = {"COLUMNS": "160", "NO_COLOR": "1", "FORCE_COLOR": None, "CRM_API_URL": None, "CRM_LOCAL_TOKEN": None}

Crm = Callable[..., Result]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def crm(api: FakeApi) -> Crm:
    """``crm(*args, input=None, api_url=..., token=..., env={})``: the CLI against the fake API, with its token.

    ``api_url=None``/``token=None`` leave the option out (the environment or the default decides).
    """

    def run(*args: str, input: str | None = None, api_url: str | None = "",  # noqa: A002
            token: str | None = "test-token", env: dict[str, str | None] | None = None) -> Result:
        options = []
        if api_url is not None:
            options += ["--api", api_url or api.url]
        if token is not None:
            options += ["--token", token]
        return CliRunner(env=ENV | (env or {})).invoke(app, [*options, *args], input=input)

    return run
