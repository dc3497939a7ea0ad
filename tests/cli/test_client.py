"""Credentials and failures: bearer token locally, SigV4 for execute-api, one-line errors with exit code 1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from crm_cli.client import DEFAULT_API_URL, DEFAULT_TOKEN, execute_api_region
from tests.cli.conftest import Crm
from tests.cli.fake_api import FakeApi, Recorded

EXECUTE_API = "http://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_WEB_IDENTITY_TOKEN_FILE": None,
}


def _through(api: FakeApi) -> dict[str, str | None]:
    """Route the execute-api host to the fake API: it acts as the HTTP proxy (urllib honours http_proxy)."""
    return {"http_proxy": api.url, "HTTP_PROXY": api.url, "no_proxy": None, "NO_PROXY": None}


def _assert_one_line_error(stderr: str, text: str) -> None:
    assert stderr.count("\n") == 1 and stderr.startswith("Error: ") and text in stderr, stderr
    assert "Traceback" not in stderr


def _signature_matches(call: Recorded, url: str, secret: str, region: str) -> bool:
    """Recompute the SigV4 signature of a recorded request from its signed headers, as API Gateway would."""
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/execute-api/aws4_request, "
        r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})",
        call.headers["authorization"],
    )
    assert match is not None and match["region"] == region
    request = AWSRequest(method=call.method, url=url, data=call.raw_body,
                         headers={h: call.headers[h] for h in match["signed"].split(";")})
    request.context["timestamp"] = call.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(match["key"], secret), "execute-api", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return expected == match["signature"]


# --- credentials ----------------------------------------------------------------------------------------------


def test_the_bearer_token_goes_with_every_request(api: FakeApi, crm: Crm) -> None:
    # Given a campaign
    api.seed("cmp-1")
    # When it is listed and shown with --token
    assert crm("campaigns", "list").exit_code == 0
    assert crm("campaigns", "show", "cmp-1").exit_code == 0
    # Then both requests carried the token as a bearer credential and asked for JSON
    assert [c.headers["authorization"] for c in api.requests] == ["Bearer test-token"] * 2
    assert all(c.headers["accept"] == "application/json" for c in api.requests)


def test_url_and_token_come_from_the_environment(api: FakeApi, crm: Crm) -> None:
    # Given CRM_API_URL and CRM_LOCAL_TOKEN instead of options
    api.token = "from-env"
    # When a command runs without --api/--token
    result = crm("campaigns", "list", api_url=None, token=None,
                 env={"CRM_API_URL": api.url, "CRM_LOCAL_TOKEN": "from-env"})
    # Then it reached that API with that token
    assert result.exit_code == 0, result.output
    assert api.requests[-1].headers["authorization"] == "Bearer from-env"


def test_defaults_are_the_local_emulation() -> None:
    from crm_local.__main__ import DEFAULT_HTTP_PORT
    from crm_local.cloud import DEFAULT_TOKEN as LOCAL_TOKEN

    assert DEFAULT_API_URL == f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"
    assert DEFAULT_TOKEN == LOCAL_TOKEN


def test_without_a_token_the_local_default_is_sent(api: FakeApi, crm: Crm) -> None:
    api.token = DEFAULT_TOKEN
    result = crm("campaigns", "list", token=None)
    assert result.exit_code == 0, result.output
    assert api.requests[-1].headers["authorization"] == "Bearer local-admin-token"


def test_an_execute_api_url_is_signed_with_sigv4(api: FakeApi, crm: Crm) -> None:
    # Given AWS credentials in the environment and an execute-api URL (reaching the fake API through a proxy)
    env = FAKE_AWS | _through(api) | {"CRM_LOCAL_TOKEN": "must-not-be-sent"}
    # When a campaign is created and the list read
    created = crm("campaigns", "create", "--name", "Jarní akce", "--template", "spring_offer",
                  "--segment-query", "tag = VIP", api_url=EXECUTE_API, token=None, env=env)
    listed = crm("campaigns", "list", api_url=EXECUTE_API, token=None, env=env)
    # Then both requests went to the execute-api host with a valid SigV4 signature for eu-central-1
    assert created.exit_code == 0, created.output
    assert listed.exit_code == 0, listed.output
    post, get = api.requests
    for call in (post, get):
        assert call.headers["host"] == "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com"
        assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "Bearer" not in call.headers["authorization"]
        assert _signature_matches(call, f"{EXECUTE_API}{call.path}", FAKE_AWS["AWS_SECRET_ACCESS_KEY"] or "",
                                  "eu-central-1")
    # And the body that arrived is the one signed (its hash is part of the canonical request recomputed above)
    assert post.body["name"] == "Jarní akce" and "x-amz-date" in post.headers


def test_region_option_wins_and_sigv4_can_be_forced(api: FakeApi, crm: Crm) -> None:
    # Given an API behind a custom domain (no region in its host)
    env = FAKE_AWS | _through(api)
    # When SigV4 is asked for explicitly with a region
    result = crm("--auth", "sigv4", "--region", "eu-west-1", "campaigns", "list",
                 api_url="http://crm-api.example.cz", token=None, env=env)
    # Then the request is signed for that region
    assert result.exit_code == 0, result.output
    assert "/eu-west-1/execute-api/aws4_request" in api.requests[-1].headers["authorization"]


def test_sigv4_without_aws_credentials_is_a_one_line_error(api: FakeApi, crm: Crm) -> None:
    env = FAKE_AWS | _through(api) | {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    result = crm("campaigns", "list", api_url=EXECUTE_API, token=None, env=env)
    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "No AWS credentials to sign requests")
    assert api.requests == []


@pytest.mark.parametrize(("url", "region"), [
    ("https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com", "eu-central-1"),
    ("https://abc123.execute-api.us-east-1.amazonaws.com/prod/", "us-east-1"),
    ("https://abc123.execute-api.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("http://127.0.0.1:3000", None),
    ("https://crm-api.example.cz", None),
])
def test_execute_api_region_is_read_from_the_host(url: str, region: str | None) -> None:
    assert execute_api_region(url) == region


# --- failures -------------------------------------------------------------------------------------------------


def test_connection_refused_is_one_line_and_exit_1(crm: Crm) -> None:
    # Given a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When any command runs against it
    result = crm("campaigns", "list", api_url=f"http://127.0.0.1:{port}")
    # Then one line says what to do
    assert result.exit_code == 1
    assert result.stderr == f"Error: Cannot reach the API at http://127.0.0.1:{port} — is `make local` running?\n"
    assert result.stdout == ""


def test_a_wrong_token_is_a_one_line_403(api: FakeApi, crm: Crm) -> None:
    result = crm("campaigns", "list", token="wrong")
    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "Access denied (403 Forbidden)")


def test_a_401_is_one_line(api: FakeApi, crm: Crm) -> None:
    api.failures[("GET", "/campaigns")] = [(401, {"message": "Unauthorized"})]
    result = crm("campaigns", "list")
    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "Not authenticated (401 Unauthorized)")


def test_a_server_error_is_one_line(api: FakeApi, crm: Crm) -> None:
    api.failures[("GET", "/campaigns")] = [(500, {"message": "Internal Server Error"})]
    result = crm("campaigns", "list")
    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "The API failed (500): Internal Server Error")


def test_a_bad_api_url_is_one_line(crm: Crm) -> None:
    result = crm("campaigns", "list", api_url="127.0.0.1:3000")
    assert result.exit_code == 1
    _assert_one_line_error(result.stderr, "--api needs an http(s) URL")


def test_python_dash_m_runs_the_same_app() -> None:
    out = subprocess.run([sys.executable, "-m", "crm_cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "crm 0.1.0"
