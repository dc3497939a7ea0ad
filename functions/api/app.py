"""CRM HTTP API: contacts, deals, activities, tasks, campaigns, reports, and the OpenAPI document. Thin: validate,
call a service."""


import base64
import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pydantic import BaseModel, ConfigDict, Field

from crm_automation.domain.models import Contact, Deal, Task, TaskStatus
from crm_automation.errors import (ConcurrentWriteError, ConflictError, GoneError, InvalidRequestError, NotFoundError,
                                   TransientError)
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import campaigns, consent, crm, imports, privacy, reports, suppressions
from crm_automation.services.runtime import Runtime

PUBLIC_PATHS = {"/openapi.json"}

app = APIGatewayHttpResolver(enable_validation=True)
rt = Runtime()


def _json(status: HTTPStatus, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, ensure_ascii=False, default=str))


def _caller() -> str | None:
    authorizer = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    jwt = (authorizer.get("jwt") or {}).get("claims") or {}
    return iam.get("userArn") or jwt.get("sub")


def require_authenticated(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """API Gateway already refuses unsigned calls; this is the second lock should a route lose its authorizer."""
    if app.current_event.path not in PUBLIC_PATHS and _caller() is None:
        return _json(HTTPStatus.UNAUTHORIZED, {"message": "authentication required"})
    return next_middleware(app)


app.use(middlewares=[require_authenticated])


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response:
    problems = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                for e in error.errors()]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"message": f"invalid request: {summary}", "errors": problems})


@app.exception_handler(InvalidRequestError)
def _bad(error: InvalidRequestError) -> Response:
    return _json(HTTPStatus.BAD_REQUEST, {"message": str(error)})


@app.exception_handler(GoneError)
def _gone(error: GoneError) -> Response:
    return _json(HTTPStatus.GONE, {"message": str(error)})


@app.exception_handler(NotFoundError)
def _missing(error: NotFoundError) -> Response:
    return _json(HTTPStatus.NOT_FOUND, {"message": str(error)})


@app.exception_handler(ConflictError)
def _conflict(error: ConflictError) -> Response:
    if isinstance(error, ConcurrentWriteError):  # internal condition details are not for the caller
        return _json(HTTPStatus.CONFLICT, {"message": "the record changed meanwhile; read it again and retry"})
    return _json(HTTPStatus.CONFLICT, {"message": str(error)})


@app.exception_handler(TransientError)
def _busy(error: TransientError) -> Response:
    return Response(status_code=HTTPStatus.SERVICE_UNAVAILABLE, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps({"message": "temporarily unavailable, retry"}), headers={"Retry-After": "2"})


_openapi_document: str | None = None


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    global _openapi_document
    if _openapi_document is None:  # the routes are fixed at import: build the document once per container
        _openapi_document = app.get_openapi_json_schema(title="CRM automation API", version="1.0.0")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_openapi_document)


@app.post("/contacts", responses={201: {"description": "Created"}, 409: {"description": "E-mail already used"}})
def create_contact(body: crm.ContactIn):
    contact = crm.create_contact(rt, body, rt.clock.now(), _caller())
    return _json(HTTPStatus.CREATED, contact.model_dump(mode="json"))


@app.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> crm.ContactView:
    return crm.contact_view(rt, contact_id, rt.clock.now())


@app.patch("/contacts/<contact_id>")
def update_contact(contact_id: str, body: crm.ContactPatch) -> Contact:
    return crm.update_contact(rt, contact_id, body, rt.clock.now(), _caller())


def _time_left() -> float:
    """Seconds this invocation has left (API Gateway gives up after 30 s whatever the function's timeout)."""
    context = getattr(app, "lambda_context", None)
    return context.get_remaining_time_in_millis() / 1000 if context is not None else 30.0


@app.post("/contacts/archive")
def bulk_archive_contacts(body: privacy.BulkArchiveIn):
    return _json(HTTPStatus.OK, privacy.bulk_archive(rt, body, rt.clock.now(), _time_left))


@app.post("/contacts/<contact_id>/archive")
def archive_contact(contact_id: str, body: privacy.ArchiveIn) -> Contact:
    return privacy.archive(rt, contact_id, body.reason, rt.clock.now())


@app.post("/contacts/<contact_id>/unarchive")
def unarchive_contact(contact_id: str) -> Contact:
    return privacy.unarchive(rt, contact_id, rt.clock.now())


@app.post("/contacts/<contact_id>/erase", responses={200: {"description": "Erased; again: a no-op"}})
def erase_contact(contact_id: str, body: privacy.EraseIn):
    return _json(HTTPStatus.OK, privacy.erase(rt, contact_id, body, rt.clock.now(), _time_left))


@app.get("/contacts/<contact_id>/export", responses={410: {"description": "The contact was erased"}})
def export_contact(contact_id: str):
    return _json(HTTPStatus.OK, privacy.export(rt, contact_id, rt.clock.now()))


@app.get("/contacts/<contact_id>/consents")
def list_consents(contact_id: str) -> list[consent.ConsentEntry]:
    """The contact's consent ledger, newest first: every consent, double opt-in request and confirmation, and
    withdrawal, with purpose, wording version, time, source, channel and request metadata."""
    return consent.ledger(rt, contact_id)


@app.post("/contacts/<contact_id>/consents", responses={201: {"description": "Recorded"}})
def record_consent(contact_id: str, body: consent.ConsentIn):
    """Record a consent or a withdrawal given by other means (on the phone, in a letter): channel "api". A
    withdrawal takes effect at once; `double_opt_in` sends the confirmation e-mail and counts only once confirmed."""
    entry = consent.record_consent(rt, contact_id, body, rt.clock.now(), _caller())
    return _json(HTTPStatus.CREATED, entry.model_dump(mode="json", exclude_none=True))


@app.post("/deals", responses={201: {"description": "Created"}})
def create_deal(body: crm.DealIn):
    deal = crm.create_deal(rt, body, rt.clock.now())
    return _json(HTTPStatus.CREATED, deal.model_dump(mode="json"))


@app.get("/deals/<deal_id>")
def get_deal(deal_id: str) -> Deal:
    return crm.get_deal(rt, deal_id)


@app.patch("/deals/<deal_id>")
def update_deal(deal_id: str, body: crm.DealPatch) -> Deal:
    return crm.update_deal(rt, deal_id, body, rt.clock.now())


@app.post("/activities", responses={201: {"description": "Recorded"}, 200: {"description": "Replay of a known id"}})
def record_activity(body: crm.ActivityIn):
    activity, created = crm.record_activity(rt, body, rt.clock.now())
    return _json(HTTPStatus.CREATED if created else HTTPStatus.OK, activity.model_dump(mode="json"))


@app.get("/tasks")
def list_tasks(
    owner: Annotated[str | None, Query(max_length=128)] = None,
    contact_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
) -> list[Task]:
    return crm.list_tasks(rt, owner, contact_id, status)


@app.post("/tasks/<task_id>/complete")
def complete_task(task_id: str, body: crm.TaskCompletion) -> Task:
    return crm.complete_task(rt, task_id, body, rt.clock.now(), _caller())


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(3, ge=0, le=20)


@app.post("/campaigns", responses={201: {"description": "Created (a draft)"}})
def create_campaign(body: campaigns.CampaignIn):
    campaign = campaigns.create(rt, body, rt.clock.now(), _caller())
    return _json(HTTPStatus.CREATED, campaign.view())


@app.get("/campaigns")
def list_campaigns():
    return _json(HTTPStatus.OK, {"campaigns": [c.view() for c in campaigns.list_all(rt)]})


@app.get("/campaigns/<campaign_id>")
def get_campaign(campaign_id: str):
    return _json(HTTPStatus.OK, campaigns.get(rt, campaign_id).view())


@app.post("/campaigns/<campaign_id>/preview")
def preview_campaign(campaign_id: str, body: PreviewIn):
    return _json(HTTPStatus.OK, campaigns.preview(rt, campaign_id, body.samples, rt.clock.now()))


@app.post("/campaigns/<campaign_id>/launch", responses={202: {"description": "Launched or scheduled"}})
def launch_campaign(campaign_id: str):
    return _json(HTTPStatus.ACCEPTED, campaigns.launch(rt, campaign_id, rt.clock.now()).view())


@app.post("/campaigns/<campaign_id>/pause")
def pause_campaign(campaign_id: str):
    return _json(HTTPStatus.OK, campaigns.pause(rt, campaign_id, rt.clock.now()).view())


@app.post("/campaigns/<campaign_id>/resume")
def resume_campaign(campaign_id: str):
    return _json(HTTPStatus.OK, campaigns.resume(rt, campaign_id, rt.clock.now()).view())


@app.post("/suppressions")
def import_suppressions(body: suppressions.SuppressionImport):
    return _json(HTTPStatus.OK, suppressions.import_suppressions(rt, body, rt.clock.now()))


# ---------------------------------------------------------------- reports
# The parameters are checked by the service (400 naming the parameter), not by the schema: a month, a period or a
# segment that cannot be used is a request problem like any other.
def _from() -> Any:
    return Query(alias="from", description="First month, YYYY-MM (Prague time); default: 11 months before `to`")


def _to() -> Any:
    return Query(alias="to", description="Last month, YYYY-MM; default: the current month. At most 36 months")


_REPORT_RESPONSES: dict[int, dict[str, Any]] = {400: {"description": "A parameter that cannot be used (named)"}}


def _only(*names: str) -> None:
    """A report answers only for the parameters it knows: an unknown one (a misspelt `by`, a filter it does not
    offer) is a 400 naming it, not a report that silently ignores it."""
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - set(names))
    if unknown:
        raise InvalidRequestError(f"unknown parameter {', '.join(unknown)}; this report takes {', '.join(names)}")


@app.get("/reports/loss-reasons", responses=_REPORT_RESPONSES)
def report_loss_reasons(
    month_from: Annotated[str | None, _from()] = None,
    month_to: Annotated[str | None, _to()] = None,
    by: Annotated[str | None, Query(description="Segment: industry, owner, product, month or none (default)")] = None,
):
    """Lost deals by reason: counts, shares and value per currency, overall and per segment, with the won deals
    and the win rate, from the deals closed in the months (running totals, not a scan)."""
    _only("from", "to", "by")
    return _json(HTTPStatus.OK, reports.loss_reasons(rt, month_from, month_to, by))


@app.get("/reports/retention", responses=_REPORT_RESPONSES)
def report_retention(
    period: Annotated[str | None, Query(description="2026, 2026-Q2, 2026-06 or all; default: the current year")] = None,
):
    """Repeat purchases in the period: customers and revenue per number of orders, repeat and retention rate
    (3 or more orders), average order value of one-time and returning customers, average gap between purchases."""
    _only("period")
    return _json(HTTPStatus.OK, reports.retention(rt, period))


@app.get("/reports/workflows", responses=_REPORT_RESPONSES)
def report_workflows(
    month_from: Annotated[str | None, _from()] = None,
    month_to: Annotated[str | None, _to()] = None,
):
    """Per workflow: enrolments, tasks created in the months (and their status now), e-mails sent and skipped,
    reactions within the wait, new deals and deals won after a reactivation."""
    _only("from", "to")
    return _json(HTTPStatus.OK, reports.workflows(rt, month_from, month_to))


@app.get("/reports/campaigns", responses=_REPORT_RESPONSES)
def report_campaigns(
    month_from: Annotated[str | None, _from()] = None,
    month_to: Annotated[str | None, _to()] = None,
):
    """The campaigns created in the months, newest first: sent, delivered, opened and clicked (unique), opens and
    clicks (events), bounced, complained, unsubscribed, suppressed by reason, the rates, and the totals."""
    _only("from", "to")
    return _json(HTTPStatus.OK, reports.campaigns(rt, month_from, month_to))


_CSV_TYPES = {"text/csv", "application/csv", "text/plain"}
_IMPORT_SAFETY_SECONDS = 8  # stop importing rows this long before API Gateway's 30 s: the client sends the rest


def _csv_body() -> bytes:
    """The request body as sent (API Gateway base64-encodes what is not text)."""
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise InvalidRequestError("the body is not valid base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise imports.CsvProblem("the body is not UTF-8 (it holds unpaired surrogates): save the file as "
                                 "\"CSV UTF-8\"") from None


@app.post("/imports/contacts", responses={
    200: {"description": "The report: counts per outcome, the rows not created or updated by line"},
    400: {"description": "The body cannot be read (not UTF-8, no header, an unknown column)"},
    413: {"description": "Too many rows or bytes for one request"},
    415: {"description": "Not a CSV body (Content-Type: text/csv; charset=utf-8)"}})
def import_contacts(
    source: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="The list's name (e.g. the file name): the same name is the same "
                                             "import, so a re-run changes nothing")],
    owner: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
                                       description="Owner of new contacts whose row names none")] = None,
    require_consent: Annotated[bool, Query(description="false: rows without consent are imported as contacts "
                                                       "without marketing consent")] = True,
    dry_run: Annotated[bool, Query(description="Report what would happen, write nothing")] = False,
    first_line: Annotated[int, Query(ge=2, le=100_000_000, description="The file line of the body's first data "
                                                                        "row (a part of a bigger file)")] = 2,
):
    """Import a CSV of contacts (the body, UTF-8, `;` or `,` separated, header line first). Each row is created,
    updated, unchanged (imported before), skipped as suppressed, skipped without consent, or invalid; the report
    gives every row that was not created or updated by its line number. See docs/leads.md#importing-lists."""
    media, _, parameters = (app.current_event.headers.get("content-type") or "").partition(";")
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in parameters.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if media.strip().lower() not in _CSV_TYPES or charset not in ("utf-8", "utf8"):
        return _json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                     {"message": "send the CSV as the body with Content-Type: text/csv; charset=utf-8"})
    try:
        report = imports.import_contacts(
            rt, _csv_body(), rt.clock.now(), source=source, owner=owner, require_consent=require_consent,
            dry_run=dry_run, first_line=first_line, out_of_time=lambda: _time_left() < _IMPORT_SAFETY_SECONDS)
    except imports.CsvProblem as problem:
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if problem.too_large else HTTPStatus.BAD_REQUEST
        return _json(status, {"message": str(problem)})
    return _json(HTTPStatus.OK, report)


def _unreadable_body(event: dict) -> dict | None:
    """A body that is not UTF-8 text, or JSON nested deeper than Python's parser recurses, is a 400 here: Powertools
    decodes and parses the body before its validation and would raise past it (a 500)."""
    body = event.get("body")
    if not body:
        return None
    content_type = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() in _CSV_TYPES:
        return None  # the CSV import reads its raw body itself and names the encoding problem
    try:
        text = base64.b64decode(body).decode("utf-8") if event.get("isBase64Encoded") else body
        json.loads(text)
    except (UnicodeDecodeError, RecursionError):
        return {"statusCode": HTTPStatus.BAD_REQUEST, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps({"message": "the body is not UTF-8 text, or its JSON nests too deeply"})}
    except ValueError:  # not JSON: the validation answers it like any other invalid body
        return None
    return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return _unreadable_body(event) or app.resolve(event, context)

