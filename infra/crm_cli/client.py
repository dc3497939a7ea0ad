"""The campaign HTTP API client: standard-library HTTP, a bearer token locally, SigV4 against AWS.

No presentation here: every call returns the decoded JSON, every failure is a :class:`CrmError` whose ``str`` is one
line meant for a human (the CLI prints it and exits 1).

Authentication (``auth="auto"``, the default):

- an ``execute-api`` URL (``https://<id>.execute-api.<region>.amazonaws.com[/stage]``) is signed with SigV4
  (service ``execute-api``; credentials of the default boto3 session; region from ``region=`` or the host);
- anything else gets ``Authorization: Bearer <token>`` (the local emulation's stand-in for IAM auth).

``auth="sigv4"`` signs any URL (an API behind a custom domain: pass ``region=``); ``auth="bearer"`` never signs.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from crm_cli import __version__

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_TOKEN",
    "ApiError",
    "ApiUnreachable",
    "AuthMode",
    "CrmClient",
    "CrmError",
    "execute_api_region",
]

DEFAULT_API_URL = "http://127.0.0.1:3000"  # `make local` (python -m crm_local serve, DEFAULT_HTTP_PORT)
DEFAULT_TOKEN = "local-admin-token"  # crm_local.cloud.DEFAULT_TOKEN (not imported: the emulation pulls in moto)

AuthMode = Literal["auto", "bearer", "sigv4"]

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$", re.IGNORECASE)


class CrmError(Exception):
    """A failure the CLI reports as one line (no traceback)."""


class ApiUnreachable(CrmError):
    """No HTTP answer at all: connection refused, DNS, TLS, timeout."""


class ApiError(CrmError):
    """The API answered with an error status."""

    def __init__(self, status: int, message: str, *, body: Any = None, url: str = "") -> None:
        self.status = status
        self.message = message
        self.body = body
        self.url = url
        super().__init__(self._line())

    def _line(self) -> str:
        if self.status == 401:
            return (f"Not authenticated (401 {self.message}): pass --token / set CRM_LOCAL_TOKEN, "
                    "or AWS credentials for an execute-api URL")
        if self.status == 403:
            return (f"Access denied (403 {self.message}): wrong token, or the AWS identity may not call this API "
                    "(execute-api:Invoke)")
        if self.status >= 500:
            return f"The API failed ({self.status}): {self.message}"
        return f"{self.status}: {self.message}"


def execute_api_region(url: str) -> str | None:
    """``eu-central-1`` for ``https://abc123.execute-api.eu-central-1.amazonaws.com/...``; ``None`` otherwise."""
    host = urlsplit(url).hostname or ""
    match = _EXECUTE_API_HOST.match(host)
    return match.group(1) if match else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_message(status: int, reason: str, body: Any) -> str:
    """The server's ``message`` plus any ``detail`` (pydantic) / ``errors`` entries it does not already spell out."""
    if not isinstance(body, Mapping):
        text = body.strip() if isinstance(body, str) else ""
        return " ".join(text.split())[:200] or reason or f"HTTP {status}"
    message = str(body.get("message") or reason or f"HTTP {status}")
    extra = []
    for key in ("detail", "errors"):
        items = body.get(key)
        if isinstance(items, str):
            items = [{"msg": items}]
        if not isinstance(items, Sequence):
            continue
        for item in items:
            if not isinstance(item, Mapping):
                continue
            loc = item.get("loc")
            if isinstance(loc, Sequence) and not isinstance(loc, str):
                field = ".".join(str(p) for p in loc if p != "body")
            else:
                field = str(item.get("field") or loc or "")
            text = str(item.get("msg") or item.get("message") or "")
            summary = f"{field}: {text}" if field else text
            if summary and summary not in message and summary not in extra:
                extra.append(summary)
    return "; ".join([message, *extra]) if extra else message


class CrmClient:
    """One API base URL and its credentials. Methods mirror the campaign routes one to one."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        token: str | None = None,
        auth: AuthMode = "auto",
        region: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CrmError(f"--api needs an http(s) URL, got {base_url!r}")
        self.token = token or DEFAULT_TOKEN
        self.auth: AuthMode = auth
        self.region = region
        self.timeout = timeout
        self.host = parts.hostname
        # A local API never goes through an HTTP(S)_PROXY; anything else honours the usual proxy variables.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.host) else []
        self._opener = urllib.request.build_opener(*handlers)
        self._signer: Any = None

    # --- auth -------------------------------------------------------------------------------------------------

    @property
    def signs(self) -> bool:
        """Whether requests are SigV4-signed (else they carry the bearer token)."""
        if self.auth == "auto":
            return execute_api_region(self.base_url) is not None
        return self.auth == "sigv4"

    def _sigv4_headers(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._signer is None:
            import boto3

            session = boto3.Session()
            region = self.region or execute_api_region(self.base_url) or session.region_name
            if not region:
                raise CrmError(f"Cannot tell the AWS region of {self.base_url}: pass --region")
            credentials = session.get_credentials()
            if credentials is None:
                raise CrmError(
                    f"No AWS credentials to sign requests to {self.base_url}: set AWS_PROFILE (aws sso login) "
                    "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --token against the local API"
                )
            self._signer = (credentials, region)
        credentials, region = self._signer
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    # --- transport --------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, payload: Any = None, *, raw: bytes | None = None,
                content_type: str = "application/json") -> Any:
        """``method path`` with an optional JSON body (or ``raw`` bytes of ``content_type``); the decoded JSON answer
        (``None`` for an empty body)."""
        url = f"{self.base_url}{path}"
        headers = {"Accept": "application/json", "User-Agent": f"crm-cli/{__version__}"}
        body: bytes | None = None
        if raw is not None:
            body = raw
            headers["Content-Type"] = content_type
        elif payload is not None:
            body = json.dumps(payload, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            body = b""  # an explicit Content-Length: 0 (a bodiless POST may otherwise meet 411 Length Required)
        if self.signs:
            headers = self._sigv4_headers(method, url, body, headers)
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read() or b""
            try:
                decoded: Any = json.loads(raw)
            except ValueError:
                decoded = raw.decode(errors="replace")
            raise ApiError(exc.code, _error_message(exc.code, exc.reason, decoded), body=decoded, url=url) from None
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except (TimeoutError, socket.timeout):
            raise ApiUnreachable(f"The API at {self.base_url} did not answer within {self.timeout:g} s") from None
        except OSError as exc:  # reset connections and the like surface bare from read()
            raise self._unreachable(exc) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CrmError(f"The API at {self.base_url} answered {method} {path} with something that is not JSON") \
                from None

    def _unreachable(self, reason: Any) -> ApiUnreachable:
        if isinstance(reason, ConnectionRefusedError):
            if _is_loopback(self.host):
                return ApiUnreachable(f"Cannot reach the API at {self.base_url} — is `make local` running?")
            return ApiUnreachable(f"Cannot reach the API at {self.base_url} (connection refused)")
        if isinstance(reason, TimeoutError | socket.timeout):
            return ApiUnreachable(f"The API at {self.base_url} did not answer within {self.timeout:g} s")
        detail = getattr(reason, "strerror", None) or str(reason)
        return ApiUnreachable(f"Cannot reach the API at {self.base_url}: {detail}")

    # --- routes -----------------------------------------------------------------------------------------------

    @staticmethod
    def _campaign_path(campaign_id: str, action: str = "") -> str:
        path = f"/campaigns/{quote(campaign_id, safe='')}"
        return f"{path}/{action}" if action else path

    def list_campaigns(self) -> list[dict[str, Any]]:
        answer = self.request("GET", "/campaigns")
        return list((answer or {}).get("campaigns", []))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return self.request("GET", self._campaign_path(campaign_id))

    def create_campaign(
        self,
        *,
        name: str,
        template: str,
        segment: Mapping[str, Any] | None = None,
        segment_query: str | None = None,
        sender: str | None = None,
        send_at: str | None = None,
        locale: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "template": template}
        if segment is not None:
            body["segment"] = dict(segment)
        if segment_query is not None:
            body["segment_query"] = segment_query
        body["sender"] = sender
        body["send_at"] = send_at
        if locale is not None:
            body["locale"] = locale
        return self.request("POST", "/campaigns", body)

    def preview(self, campaign_id: str, samples: int = 3) -> dict[str, Any]:
        return self.request("POST", self._campaign_path(campaign_id, "preview"), {"samples": samples})

    def launch(self, campaign_id: str) -> dict[str, Any]:
        return self.request("POST", self._campaign_path(campaign_id, "launch"))

    def pause(self, campaign_id: str) -> dict[str, Any]:
        return self.request("POST", self._campaign_path(campaign_id, "pause"))

    def resume(self, campaign_id: str) -> dict[str, Any]:
        return self.request("POST", self._campaign_path(campaign_id, "resume"))

    def add_suppressions(self, entries: Sequence[Mapping[str, str]], source: str) -> dict[str, Any]:
        return self.request("POST", "/suppressions", {"entries": [dict(e) for e in entries], "source": source})

    def import_contacts(self, csv_text: str, *, source: str, owner: str | None = None, require_consent: bool = True,
                        dry_run: bool = False, first_line: int = 2) -> dict[str, Any]:
        """``POST /imports/contacts``: one part of a contact list (the header line and whole rows), UTF-8."""
        query = {"source": source, "require_consent": str(require_consent).lower(),
                 "dry_run": str(dry_run).lower(), "first_line": str(first_line)}
        if owner:
            query["owner"] = owner
        return self.request("POST", f"/imports/contacts?{urlencode(query)}", raw=csv_text.encode("utf-8"),
                            content_type="text/csv; charset=utf-8")

    # --- reports ----------------------------------------------------------------------------------------------

    def _report(self, name: str, **params: str | None) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        suffix = f"?{urlencode(query)}" if query else ""
        answer = self.request("GET", f"/reports/{name}{suffix}")
        if not isinstance(answer, dict):
            raise CrmError(f"The API at {self.base_url} answered GET /reports/{name} with no report")
        return answer

    def report_loss_reasons(self, *, month_from: str | None = None, month_to: str | None = None,
                            by: str | None = None) -> dict[str, Any]:
        """``GET /reports/loss-reasons``: lost deals by reason, overall and per segment (``by``)."""
        return self._report("loss-reasons", **{"from": month_from, "to": month_to}, by=by)

    def report_retention(self, *, period: str | None = None) -> dict[str, Any]:
        """``GET /reports/retention``: customers and revenue by number of orders in a year/quarter/month/all."""
        return self._report("retention", period=period)

    def report_workflows(self, *, month_from: str | None = None, month_to: str | None = None) -> dict[str, Any]:
        """``GET /reports/workflows``: enrolments, tasks, e-mails, reactions and new deals per workflow."""
        return self._report("workflows", **{"from": month_from, "to": month_to})

    def report_campaigns(self, *, month_from: str | None = None, month_to: str | None = None) -> dict[str, Any]:
        """``GET /reports/campaigns``: the funnel of every campaign created in the period, with totals."""
        return self._report("campaigns", **{"from": month_from, "to": month_to})
