"""Public lead capture routes (no IAM auth).

POST    /forms/{form_id}   a web form: application/x-www-form-urlencoded (HTML forms) or application/json. JSON
                           clients get 202 JSON (422 naming the fields); HTML forms a 303 to the form's thank-you
                           page (or a small page), on invalid input a 303 to its error page or a 422 page. 404
                           unknown form, 415 other bodies, 429 + Retry-After over the rate limits.
OPTIONS /forms/{form_id}   CORS preflight for the form's allowed origins.
POST    /chatbot/events    chatbot webhook, signed (X-Crm-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">):
                           401 unsigned, forged or stale; 202 accepted; 200 a replay of a known event_id.
Thin: read the request, call services.leads, shape the answer. Logs carry ids only (never an address or name).
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm_automation.domain.leads import SIGNATURE_HEADER
from crm_automation.errors import TransientError
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import leads
from crm_automation.services.runtime import Runtime

app = APIGatewayHttpResolver()
rt = Runtime()
_PAGE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
_FIELD_LABELS = {"cs": {"email": "E-mail", "first_name": "Jméno", "last_name": "Příjmení", "company": "Firma",
                        "phone": "Telefon", "message": "Zpráva", "consent_marketing": "Souhlas se zasíláním novinek",
                        "redirect": "Adresa pro přesměrování"},
                 "en": {"email": "E-mail", "first_name": "First name", "last_name": "Last name", "company": "Company",
                        "phone": "Phone", "message": "Message", "consent_marketing": "Consent to receive news",
                        "redirect": "Redirect address"}}
_MESSAGES = {"cs": {404: "Tento formulář neexistuje.", 403: "Formulář nelze odeslat z této stránky.",
                    415: "Nepodporovaný formát formuláře.", 413: "Formulář je příliš velký.",
                    400: "Formulář se nepodařilo přečíst.", 503: "Služba je dočasně nedostupná, zkuste to znovu."},
             "en": {404: "This form does not exist.", 403: "The form cannot be sent from this page.",
                    415: "Unsupported form format.", 413: "The form is too large.",
                    400: "The form could not be read.", 503: "Temporarily unavailable, please try again."}}


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(rt.settings.templates_dir)), autoescape=select_autoescape(["html"]))


def _header(name: str) -> str | None:
    return (app.current_event.headers or {}).get(name)


def _raw_body() -> bytes:
    """The body exactly as sent (the chatbot signature covers these bytes)."""
    event = app.current_event.raw_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError):
            return b""
    return body.encode("utf-8")


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, ensure_ascii=False), headers=headers or {})


def _page(status: int, state: str, headers: dict[str, str], **values: Any) -> Response:
    locale = rt.settings.locale
    body = _env().get_template(f"lead_form_page/{locale}/page.html").render(
        state=state, labels=_FIELD_LABELS[locale], **values)
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body,
                    headers=_PAGE_HEADERS | headers)


def _cors(origin: str | None) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def _form_response(result: leads.FormResult) -> Response:
    headers = _cors(result.cors_origin)
    if result.retry_after is not None:
        headers["Retry-After"] = str(result.retry_after)
    if result.status == HTTPStatus.SEE_OTHER and result.location:
        return Response(status_code=303, headers=headers | {"Location": result.location, "Cache-Control": "no-store"},
                        content_type="text/plain; charset=utf-8", body="")
    if result.html:
        fields = list(dict.fromkeys(e["field"] for e in result.errors))
        state = {202: "accepted", 422: "invalid", 429: "rate_limited"}.get(result.status, "error")
        message = _MESSAGES[rt.settings.locale].get(result.status, result.message)
        return _page(result.status, state, headers, fields=fields, message=message)
    if result.status == HTTPStatus.ACCEPTED:
        return _json(202, {"status": "accepted"}, headers)
    body: dict[str, Any] = {"message": result.message}
    if result.errors:
        body["errors"] = list(result.errors)
    return _json(result.status, body, headers)


@app.post("/forms/<form_id>")
def submit_form(form_id: str) -> Response:
    context = app.current_event.request_context
    request = leads.FormRequest(
        form_id=form_id, content_type=_header("content-type"), accept=_header("accept") or "", body=_raw_body(),
        source_ip=context.http.source_ip or "", user_agent=_header("user-agent") or "",
        origin=_header("origin"), referer=_header("referer"))
    try:
        result = leads.submit_form(rt, request, rt.clock.now())
    except TransientError:
        result = leads.FormResult(503, "text/html" in request.accept, retry_after=2, message="retry later")
    return _form_response(result)


@app.route("/forms/<form_id>", method="OPTIONS")
def preflight(form_id: str) -> Response:
    form = leads.form_config(rt, form_id)
    if form is None:
        return _json(404, {"message": "unknown form"})
    allowed, origin = leads.allowed_origin(form, _header("origin"))
    if not allowed:
        return _json(403, {"message": "origin not allowed"})
    return Response(status_code=204, body="", headers=_cors(origin) | {
        "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Content-Type, Accept",
        "Access-Control-Max-Age": "600"})


@app.post("/chatbot/events")
def chatbot_event() -> Response:
    try:
        result = leads.chatbot_event(rt, _header(SIGNATURE_HEADER), _raw_body(), rt.clock.now())
    except TransientError:
        return _json(503, {"message": "temporarily unavailable, retry"}, {"Retry-After": "2"})
    body: dict[str, Any] = {"message": result.message}
    if result.errors:
        body["errors"] = list(result.errors)
    return _json(result.status, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
