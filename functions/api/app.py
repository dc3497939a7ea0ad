"""CRM HTTP API: contacts, deals, activities, tasks, and the OpenAPI document. Thin: validate, call a service."""


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
from crm_automation.errors import ConcurrentWriteError, ConflictError, InvalidRequestError, NotFoundError, TransientError
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import campaigns, crm, suppressions
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


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON,
                    body=app.get_openapi_json_schema(title="CRM automation API", version="1.0.0"))


@app.post("/contacts", responses={201: {"description": "Created"}, 409: {"description": "E-mail already used"}})
def create_contact(body: crm.ContactIn):
    contact = crm.create_contact(rt, body, rt.clock.now(), _caller())
    return _json(HTTPStatus.CREATED, contact.model_dump(mode="json"))


@app.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> crm.ContactView:
    return crm.contact_view(rt, contact_id)


@app.patch("/contacts/<contact_id>")
def update_contact(contact_id: str, body: crm.ContactPatch) -> Contact:
    return crm.update_contact(rt, contact_id, body, rt.clock.now(), _caller())


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

