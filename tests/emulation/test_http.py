"""HttpApi routes: payload 2.0 events, auth, routing, responses, the socket server and the clock route."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from .support import module

from crm_local import DEFAULT_TOKEN, LocalCloud


def test_missing_token_is_401_and_wrong_token_is_403_without_invoking(cloud: LocalCloud) -> None:
    assert cloud.http("GET", "/items/1", token=None) == (401, {"content-type": "application/json"}, '{"message": "Unauthorized"}')
    assert cloud.http("GET", "/items/1", token="wrong").status == 403
    assert cloud.http("GET", "/items/1", token="wrong").json() == {"message": "Forbidden"}
    assert cloud.invocations["ApiFunction"] == 0


def test_unknown_route_is_404(cloud: LocalCloud) -> None:
    assert cloud.http("GET", "/nope").status == 404
    assert cloud.http("DELETE", "/items/1").json() == {"message": "Not Found"}
    assert cloud.invocations["ApiFunction"] == 0


def test_public_route_needs_no_token(cloud: LocalCloud) -> None:
    response = cloud.http("GET", "/public", token=None)
    assert response.status == 200 and response.json() == {"hello": "ahoj"}
    assert "authorizer" not in module(cloud, "ApiFunction").EVENTS[0]["requestContext"]


def test_event_is_payload_format_2_with_iam_authorizer(cloud: LocalCloud) -> None:
    # When an authorised request with a path parameter and a query string is made
    response = cloud.http("GET", "/items/abc%20d?x=1&x=2&y=", headers={"X-Trace": "t1"})
    # Then the function got an API Gateway HTTP API 2.0 event
    assert response.status == 200
    event = response.json()["event"]
    assert response.json()["item_id"] == "abc d"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/abc%20d"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"item_id": "abc d"}
    assert event["headers"]["x-trace"] == "t1"
    assert event["headers"]["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert event["isBase64Encoded"] is False and "body" not in event
    ctx = event["requestContext"]
    assert ctx["http"] == {"method": "GET", "path": "/items/abc%20d", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "crm-local"}
    assert ctx["routeKey"] == "GET /items/{item_id}" and ctx["stage"] == "$default"
    assert ctx["timeEpoch"] == int(cloud.clock.now().timestamp() * 1000)
    assert ctx["authorizer"]["iam"]["userArn"] == "arn:aws:iam::123456789012:user/local-admin"
    assert ctx["authorizer"]["iam"]["cognitoIdentity"] is None
    assert ctx["authorizer"]["iam"]["principalOrgId"] is None
    assert set(ctx["authorizer"]["iam"]) == {"accessKey", "accountId", "callerId", "cognitoIdentity", "principalOrgId", "userArn", "userId"}


def test_literal_route_wins_over_path_parameter(cloud: LocalCloud) -> None:
    response = cloud.http("GET", "/items/special")
    assert response.status == 200 and response.json() == {"special": True}  # inferred 200 JSON


def test_post_settles_stream_consumers(cloud: LocalCloud) -> None:
    # When an item is created through the API
    response = cloud.http("POST", "/items", json={"pk": "a1", "kind": "activity"})
    # Then the stream consumer already ran
    assert response.status == 201 and response.json() == {"created": "a1"}
    assert module(cloud, "ApiFunction").EVENTS[-1]["body"] == '{"pk": "a1", "kind": "activity"}'
    assert cloud.invocations["StreamFunction"] == 1


def test_base64_response_is_decoded_and_errors_are_500(cloud: LocalCloud) -> None:
    binary = cloud.http("GET", "/binary", token=None)
    assert binary.body == b"\x89PNG\x00\x01" and binary.headers["content-type"] == "image/png"
    boom = cloud.http("PUT", "/boom", body="x")
    assert boom.status == 500 and boom.json() == {"message": "Internal Server Error"}
    assert cloud.errors[-1].function == "ApiFunction"


def test_socket_server_and_clock_control_route(cloud: LocalCloud) -> None:
    # Given the HTTP API served on a free port
    url = cloud.serve_http(0)
    # When the public route is called over HTTP
    with urllib.request.urlopen(f"{url}/public") as response:
        assert json.loads(response.read()) == {"hello": "ahoj"}
    # Then a protected route refuses a missing token
    try:
        urllib.request.urlopen(f"{url}/items/1")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    else:  # pragma: no cover
        raise AssertionError("expected 401")
    # And the clock route moves the clock, firing due schedules
    request = urllib.request.Request(
        f"{url}/_local/clock", data=json.dumps({"advance": "PT1H"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        body = json.loads(response.read())
    assert body["now"] == "2026-01-05T08:00:00Z"
    assert [f["scheduled_time"] for f in body["fired"]][-1] == "2026-01-05T08:00:00Z"
    assert cloud.http("POST", "/_local/clock", json={"to": "2026-01-05T09:00:00Z"}).json()["now"] == "2026-01-05T09:00:00Z"
    assert cloud.http("POST", "/_local/clock", json={"advance": "1d"}, token=None).status == 401
