"""In-process functions: environment before import, context, serialization, restoring the process state."""

from __future__ import annotations

import os

import pytest

from crm_automation.clock import get_clock
from crm_local import LocalCloud

from .support import START, TEMPLATE, module


def test_environment_is_set_before_the_handler_is_imported(cloud: LocalCloud) -> None:
    # Given a handler that creates boto3 clients at import time
    api = module(cloud, "ApiFunction")
    # Then those clients already point at the moto server, in the engine's region
    assert api.DYNAMODB.meta.endpoint_url == cloud.endpoint_url
    assert api.DYNAMODB.meta.region_name == "eu-central-1"
    assert os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"


def test_direct_invoke_passes_a_lambda_context_and_reraises(cloud: LocalCloud) -> None:
    # When a function is invoked directly
    result = cloud.invoke("CronFunction", {"hello": 1})
    # Then it ran once on the engine's clock with Lambda's environment
    assert result == {"ok": True}
    assert cloud.invocations["CronFunction"] == 1
    assert module(cloud, "CronFunction").CALLS == [({"hello": 1}, START.isoformat())]
    assert os.environ["AWS_LAMBDA_FUNCTION_NAME"] == "crm-local-CronFunction"
    invocation = cloud.history[-1]
    assert invocation.ok and invocation.source == "direct"
    # and a failing function's error reaches the caller of invoke()
    module(cloud, "CronFunction").FAIL = True
    with pytest.raises(RuntimeError, match="scheduled run failed"):
        cloud.invoke("CronFunction", {})


def test_each_function_gets_its_own_environment(cloud: LocalCloud) -> None:
    cloud.invoke("StreamFunction", {"Records": []})
    assert os.environ["ROLE"] == "stream"
    cloud.invoke("CronFunction", {})
    assert "ROLE" not in os.environ  # only StreamFunction declares it


def test_closing_restores_environment_and_clock() -> None:
    # Given the process state before
    before_env = os.environ.get("AWS_ENDPOINT_URL")
    before_clock = get_clock()
    # When a cloud runs and closes
    with LocalCloud(TEMPLATE, start=START) as cloud:
        assert get_clock() is cloud.clock and get_clock().now() == START
        assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url
    # Then everything is as it was
    assert os.environ.get("AWS_ENDPOINT_URL") == before_env
    assert get_clock() is before_clock


def test_quiet_invocations_and_their_errors_are_kept_in_the_function_log(tmp_path) -> None:
    from .support import START, TEMPLATE, LocalCloud

    log_file = tmp_path / "logs" / "functions.log"
    with LocalCloud(template=TEMPLATE, start=START, quiet=True, function_log=log_file) as cloud:
        with pytest.raises(KeyError):
            cloud.invoke("StreamFunction", {})  # no Records: the handler raises, as Lambda would log it
    text = log_file.read_text()
    assert "StreamFunction failed:" in text and "KeyError: 'Records'" in text
