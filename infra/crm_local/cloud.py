"""LocalCloud: the SAM template running locally on a moto server, with in-process functions.

Example::

    from datetime import UTC, datetime, timedelta
    from crm_local import LocalCloud

    with LocalCloud(template="template.yaml", start=datetime(2026, 1, 5, 7, 0, tzinfo=UTC), out_dir="out") as cloud:
        status, headers, body = cloud.http("POST", "/contacts", json={"email": "jana@example.cz"})
        cloud.client("dynamodb").scan(TableName=cloud.physical_name("ContactsTable"))
        cloud.advance(timedelta(days=30), rate_resolution=timedelta(hours=1))  # fires due schedules
        cloud.fire("InactivityScanFunction", "Daily")                           # one occurrence, now
        cloud.invocations["ActivityProcessorFunction"], cloud.filtered["ActivityProcessorFunction"]
        cloud.mail_files                                                         # the .eml files written
        cloud.bus_events(), cloud.events_file                                    # what went over EventBridge
        (message_id,) = cloud.message_ids_for("jana@example.cz")                  # SES events of sent mail
        cloud.ses_event(message_id, "Click", link="https://example.cz/offer")    # the recipient clicks
        cloud.ses_events                                                         # every SES event published

Everything runs in this process: a moto server (``moto.server.ThreadedMotoServer`` bound to 127.0.0.1)
holds the tables, queues, SNS topics and their SQS subscriptions, Secrets Manager secrets, SSM parameters, SES
identities and configuration sets, Scheduler schedules, EventBridge buses and archives the template declares; the
functions' handlers are imported and called directly, one invocation at a time, with the events Lambda would deliver.
Streams and queues are pumped by :meth:`LocalCloud.settle` (called after every HTTP request and every
scheduled run), schedules fire when :meth:`LocalCloud.advance` moves the one clock past them. Every event put
on a bus of the template is kept (:meth:`LocalCloud.bus_events`) and written to ``<out_dir>/events.jsonl``;
the engine taps each bus with a catch-all rule of its own (see :mod:`crm_local.buses`). Mail sent with a
configuration set that has an SNS event destination produces SES's events (Send, Delivery, Bounce ...; the
mailbox simulator's addresses bounce or complain) on that topic, and :meth:`LocalCloud.ses_event` adds what a
recipient does later (see :mod:`crm_local.ses_events`).
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from crm_local import moto_patches
from crm_local.buses import BusTap
from crm_local.http import HttpApiServer, HttpResponse, HttpRouter, Route, build_event, iam_authorizer, message, to_response
from crm_local.mail import MailCollector
from crm_local.queues import SqsConsumer
from crm_local.runtime import (
    EnvironmentGuard,
    FunctionRuntime,
    Invocation,
    LambdaContext,
    _reset_settings,
    capture_output,
    format_exception,
)
from crm_local.schedules import (
    CronExpression,
    RateExpression,
    parse_duration,
    parse_instant,
    parse_schedule_expression,
)
from crm_local.ses_events import SesEventPublisher, event_destinations
from crm_local.streams import StreamConsumer
from crm_local.template import FunctionSpec, Template, TemplateError, load_template

log = logging.getLogger("crm_local")

__all__ = ["LocalCloud", "Firing", "ScheduleTrigger", "SettleError", "DEFAULT_TOKEN", "ACCOUNT_ID", "REGION"]

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "eu-central-1"
DEFAULT_TOKEN = "local-admin-token"
_DEFAULT = object()

_instance_ids = itertools.count(1)
_last_moto_port: int | None = None  # reuse the port: code that cached a boto3 client keeps working
_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


class SettleError(RuntimeError):
    """Streams and queues kept producing work beyond ``max_rounds`` (an invocation loop?)."""


def _boto_session() -> boto3.session.Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
            )
        return _session


# --------------------------------------------------------------------------------------------- moto


class _MotoServer:
    """``ThreadedMotoServer`` on 127.0.0.1, quiet, quick to stop, reporting bind errors, releasing its socket.

    Differences from ``ThreadedMotoServer.start``: a bind error is raised instead of leaving ``start()``
    waiting forever; the per-request access log is dropped; ``serve_forever`` polls every 50 ms instead
    of 500 ms (``stop()`` waits for one poll); ``stop()`` also closes the listening socket so the next
    instance can bind the same port.
    """

    def __init__(self, port: int) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        class Server(ThreadedMotoServer):
            error: BaseException | None = None

            def _server_entry(self) -> None:
                try:
                    app = DomainDispatcherApplication(create_backend_app)
                    self._server = make_server(
                        self._ip_address, self._port, app, True, request_handler=QuietHandler
                    )
                except BaseException as exc:  # noqa: BLE001 - surfaced by start()
                    self.error = exc
                    self._server_ready_event.set()
                    return
                self._server_ready_event.set()
                self._server.serve_forever(poll_interval=0.05)

        self._server = Server(ip_address="127.0.0.1", port=port, verbose=False)

    def start(self) -> int:
        self._server.start()
        if self._server.error is not None:
            raise self._server.error
        return int(self._server.get_host_and_port()[1])

    def stop(self) -> None:
        inner = self._server._server
        self._server.stop()
        if inner is not None:
            inner.server_close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


# --------------------------------------------------------------------------------------------- schedules


@dataclass
class ScheduleTrigger:
    """One ``Type: ScheduleV2`` event of one function."""

    function: str
    event: str
    name: str
    arn: str
    expression: CronExpression | RateExpression
    input: str | None
    enabled: bool
    max_retries: int
    dead_letter_arn: str | None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_rate(self) -> bool:
        return isinstance(self.expression, RateExpression)

    def next_after(self, now: datetime, until: datetime, resolution: timedelta | None) -> datetime | None:
        """The next firing in ``(now, until]`` (with rate coalescing: the last occurrence of its window)."""
        after = max(now, self.start - timedelta(microseconds=1)) if self.start else now
        limit = min(until, self.end) if self.end else until
        if after >= limit:
            return None
        first = next(self.expression.occurrences(after, limit), None)
        if first is None:
            return None
        if resolution and isinstance(self.expression, RateExpression):
            step = resolution.total_seconds()
            window_end = datetime.fromtimestamp((first.timestamp() // step + 1) * step, UTC)
            last = self.expression.last_at_or_before(min(limit, window_end - timedelta(microseconds=1)))
            return last if last is not None and last >= first else first
        return first

    def render(self, scheduled_time: datetime, execution_id: str, attempt: int) -> Any:
        if self.input is None:
            return {}
        text = (
            self.input.replace("<aws.scheduler.scheduled-time>", _iso_z(scheduled_time))
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", str(attempt))
            .replace("<aws.scheduler.schedule-arn>", self.arn)
        )
        try:
            return json.loads(text)
        except ValueError:
            return text


@dataclass
class Firing:
    """One scheduled run (with its retries)."""

    function: str
    event: str
    scheduled_time: datetime
    ok: bool
    attempts: int
    sent_to_dead_letter_queue: bool = False
    invocation: Invocation | None = field(default=None, repr=False)


def _iso_z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------- cloud


class LocalCloud:
    """The template's resources on a local moto server and its functions in-process, on one clock.

    Parameters:
        template: path of the SAM template.
        start: the clock's start (timezone-aware; default: now, whole minute).
        out_dir: where sent e-mail (``<out_dir>/mail/*.eml``) and the events put on the template's buses
            (``<out_dir>/events.jsonl``) are written; ``None``: keep them in memory only.
        parameters: template parameter overrides.
        region: AWS region of the emulation.
        name_prefix: physical names are ``<name_prefix>-<LogicalId>``.
        moto_port: port of the moto server (default: the port the previous instance in this process
            used, else a free one).
        http_port: also serve the HTTP API on 127.0.0.1 at this port (``0``: a free one); ``None``: only
            in-process :meth:`http`.
        token: the bearer token for IAM-authorised routes (default env ``CRM_LOCAL_TOKEN`` or
            ``local-admin-token``).
        quiet: capture what handlers print (Powertools logs, EMF metrics) into ``Invocation.log`` instead
            of letting it reach stdout.
        function_log: with ``quiet``, also append every invocation's captured output to this file (as
            CloudWatch Logs would keep it).
        max_settle_rounds: :meth:`settle` raises :class:`SettleError` beyond this many rounds.
        secrets: ``{logical id: secret string}`` for ``AWS::SecretsManager::Secret`` resources, instead of their
            ``SecretString`` or a generated one (a test that needs to know the value).
    """

    def __init__(
        self,
        template: str | Path = "template.yaml",
        *,
        start: datetime | None = None,
        out_dir: str | Path | None = None,
        parameters: Mapping[str, Any] | None = None,
        region: str = REGION,
        name_prefix: str = "crm-local",
        moto_port: int | None = None,
        http_port: int | None = None,
        token: str | None = None,
        quiet: bool = False,
        function_log: str | Path | None = None,
        max_settle_rounds: int = 10_000,
        history_size: int = 10_000,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        if start is None:
            start = datetime.now(UTC).replace(second=0, microsecond=0)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.template_path = Path(template)
        self.start_time = start.astimezone(UTC)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.region = region
        self.account_id = ACCOUNT_ID
        self.name_prefix = name_prefix
        self.token = token or os.environ.get("CRM_LOCAL_TOKEN") or DEFAULT_TOKEN
        self.quiet = quiet
        self.function_log = Path(function_log) if function_log is not None else None
        if self.function_log is not None:
            self.function_log.parent.mkdir(parents=True, exist_ok=True)
            self.function_log.write_text("")
        self.max_settle_rounds = max_settle_rounds
        self._parameters = dict(parameters or {})
        self._secret_values = dict(secrets or {})
        self._requested_moto_port = moto_port
        self._requested_http_port = http_port

        self.invocations: Counter[str] = Counter()
        self.filtered: Counter[str] = Counter()
        self.history: deque[Invocation] = deque(maxlen=history_size)
        self.errors: deque[Invocation] = deque(maxlen=1000)
        self.log_tracebacks = False  # `serve` turns this on: a failing handler logs its traceback
        self.firings: deque[Firing] = deque(maxlen=history_size)

        self._lock = threading.RLock()
        self._instance_tag = f"i{next(_instance_ids)}"
        self._env = EnvironmentGuard()
        self._clients: dict[str, Any] = {}
        self._moto: _MotoServer | None = None
        self._http_server: HttpApiServer | None = None
        self._pump_thread: threading.Thread | None = None
        self._pump_stop = threading.Event()
        self._previous_clock: Any = None
        self._active_function: str | None = None
        self._started = False
        self.moto_port: int | None = None
        self.template: Template | None = None
        self.functions: dict[str, FunctionSpec] = {}
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.stream_consumers: list[StreamConsumer] = []
        self.sqs_consumers: list[SqsConsumer] = []
        self.schedules: dict[tuple[str, str], ScheduleTrigger] = {}
        self.router: HttpRouter | None = None
        self._queue_urls_by_arn: dict[str, str] = {}
        self._mail: MailCollector | None = None
        self._ses: SesEventPublisher | None = None
        self._bus_tap: BusTap | None = None
        self.clock: Any = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LocalCloud:
        if self._started:
            return self
        t0 = time.perf_counter()
        self._started = True
        try:
            self._start_moto()
            self._install_clock()
            self.template = load_template(
                self.template_path, parameters=self._parameters, region=self.region,
                account_id=self.account_id, stack_name=self.name_prefix,
            )
            self._env.set(self._base_environment())
            _reset_settings()
            self._bus_tap = BusTap(self)
            self._provision()
            self.functions = self.template.functions()
            self.runtimes = {
                lid: FunctionRuntime(spec, self._base_environment(), self._instance_tag)
                for lid, spec in self.functions.items()
            }
            self._create_identities_for_senders()
            self._create_schedules()
            self._create_consumers()
            self.router = HttpRouter(self.template, self.functions)
            self._mail = MailCollector(self.out_dir, self.account_id, self.region, self.clock.now)
            self._ses = SesEventPublisher(self, event_destinations(self.template))
            if self._requested_http_port is not None:
                self.serve_http(self._requested_http_port)
        except BaseException:
            self.close()
            raise
        log.debug("LocalCloud started in %.0f ms", (time.perf_counter() - t0) * 1000)
        return self

    def close(self) -> None:
        """Stop the pump, the HTTP server and the moto server; put back the environment and the clock."""
        self.stop_pump()
        if self._http_server is not None:
            self._http_server.stop()
            self._http_server = None
        for runtime in self.runtimes.values():
            runtime.unload()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
            _reset_moto()
        self._clients.clear()
        self._env.restore()
        _reset_settings()
        if self._previous_clock is not None:
            from crm_automation.clock import set_clock

            set_clock(self._previous_clock)
            self._previous_clock = None
        moto_patches.use_clock(None)
        self._started = False

    def _start_moto(self) -> None:
        global _last_moto_port
        moto_patches.install()
        port = self._requested_moto_port
        if port is None:
            port = _last_moto_port if _last_moto_port and _port_free(_last_moto_port) else 0
        self._moto = _MotoServer(port)
        self.moto_port = self._moto.start()
        _last_moto_port = self.moto_port
        _reset_moto()

    def _install_clock(self) -> None:
        from crm_automation.clock import FixedClock, get_clock, set_clock

        self._previous_clock = get_clock()
        self.clock = FixedClock(self.start_time)
        set_clock(self.clock)
        moto_patches.use_clock(self.clock.now)  # SNS notification and SES send timestamps

    def _base_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "CRM_LOCAL": "1",
        }

    # ------------------------------------------------------------------ public helpers

    @property
    def endpoint_url(self) -> str:
        if self.moto_port is None:
            raise RuntimeError("LocalCloud is not started")
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def http_url(self) -> str | None:
        return self._http_server.url if self._http_server else None

    @property
    def mail_files(self) -> list[Path]:
        return list(self._mail.paths) if self._mail else []

    @property
    def mail_messages(self) -> list[Any]:
        """Every sent message as an ``email.message.EmailMessage`` (also without ``out_dir``)."""
        if self._mail:
            self._mail.collect()  # also what services called directly (not through a handler) sent
        return list(self._mail.messages) if self._mail else []

    def bus_events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every event put on the template's buses so far, in order, as EventBridge envelopes.

        Each is the dict a rule target gets (``id``, ``source``, ``detail-type``, ``time``, ``detail`` parsed,
        ``account``, ``region``, ``resources``, ``version``); ``detail_type`` keeps only that detail type.
        Also what was put without a function invocation (e.g. by a test's own client) is included.
        """
        with self._lock:
            if self._bus_tap is None:
                return []
            self._bus_tap.collect()
            events = list(self._bus_tap.events)
        return [e for e in events if detail_type is None or e["detail-type"] == detail_type]

    @property
    def events_file(self) -> Path | None:
        """``<out_dir>/events.jsonl`` when there is an ``out_dir`` and the template has a bus, else ``None``."""
        return self._bus_tap.path if self._bus_tap is not None and self._bus_tap.buses else None

    @property
    def ses_events(self) -> list[dict[str, Any]]:
        """Every SES event published to an event destination so far, in order (the SNS ``Message``, parsed)."""
        with self._lock:
            if self._ses is None:
                return []
            self._ses.collect()
            return list(self._ses.events)

    def message_ids_for(self, recipient: str) -> list[str]:
        """The SES MessageIds of the messages sent to ``recipient`` (To, Cc or Bcc; case-insensitive), in order."""
        with self._lock:
            return self._ses.message_ids(recipient) if self._ses is not None else []

    def ses_event(
        self,
        message_id: str,
        event_type: str,
        *,
        link: str | None = None,
        user_agent: str | None = None,
        bounce_type: str = "Permanent",
        recipient: str | None = None,
        settle: bool = True,
    ) -> dict[str, Any]:
        """Publish what a recipient did with a message sent earlier, as SES event publishing would; return the event.

        ``event_type``: ``"Open"``, ``"Click"`` (on ``link``, default the message's first HTML link), or a late
        ``"Bounce"`` (``bounce_type`` ``Permanent``/``Transient``/``Undetermined``) or ``"Complaint"`` of
        ``recipient`` (default: the first). The event carries the message's ``mail`` object (its tags too) and
        goes to the destinations of its configuration set that match the type; then streams and queues settle
        (``settle=False``: the notification waits in the subscribed queues).
        """
        with self._lock:
            if self._ses is None:
                raise RuntimeError("LocalCloud is not started")
            event = self._ses.recipient_action(
                message_id, event_type, link=link, user_agent=user_agent, bounce_type=bounce_type, recipient=recipient
            )
            if settle:
                self.settle()
            return event

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` against the moto server (cached)."""
        if service not in self._clients:
            session = _boto_session()
            with _session_lock:  # boto3 sessions are not thread-safe when creating clients
                self._clients[service] = session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}),
                )
        return self._clients[service]

    def items(self, logical_id: str) -> list[dict[str, Any]]:
        """Every item of the template's table ``logical_id`` (plain Python values), read page by page."""
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.physical_name(logical_id))
        return [{k: deserializer.deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]

    def physical_name(self, logical_id: str) -> str:
        """The name the resource has on the moto server (table name, queue name, function name ...)."""
        assert self.template is not None
        if (logical_id, "QueueName") in self.template.attributes:
            return str(self.template.attributes[(logical_id, "QueueName")])
        if (logical_id, "Name") in self.template.attributes:
            return str(self.template.attributes[(logical_id, "Name")])
        if logical_id in self.template.refs:
            return str(self.template.refs[logical_id])
        raise KeyError(f"unknown resource {logical_id}")

    def ref(self, logical_id: str) -> Any:
        """What ``!Ref logical_id`` resolves to (table name, queue URL, ...)."""
        assert self.template is not None
        return self.template.resolve({"Ref": logical_id})

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """What ``!GetAtt logical_id.attribute`` resolves to."""
        assert self.template is not None
        return self.template.resolve({"Fn::GetAtt": [logical_id, attribute]})

    def queue_url_for_arn(self, arn: str) -> str:
        try:
            return self._queue_urls_by_arn[arn]
        except KeyError:
            raise KeyError(f"no queue with ARN {arn} in the template") from None

    # ------------------------------------------------------------------ provisioning

    def _name(self, logical_id: str, explicit: Any = None) -> str:
        return str(explicit) if explicit else f"{self.name_prefix}-{logical_id}"

    def _provision(self) -> None:
        tpl = self.template
        assert tpl is not None
        region, account = self.region, self.account_id
        for lid, res in tpl.resources.items():
            if not tpl.resource_enabled(lid):
                continue
            rtype = res.get("Type", "")
            name = self._name(lid)
            if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                tpl.refs[lid] = name
                tpl.attributes[(lid, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
            elif rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
                tpl.refs[lid] = lid
                tpl.attributes[(lid, "ApiEndpoint")] = "http://127.0.0.1"
            elif rtype == "AWS::SNS::Topic":
                tpl.refs[lid] = f"arn:aws:sns:{region}:{account}:{name}"
                tpl.attributes[(lid, "TopicArn")] = tpl.refs[lid]
                tpl.attributes[(lid, "TopicName")] = name
            elif rtype == "AWS::Serverless::LayerVersion":
                tpl.refs[lid] = f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
            elif rtype in ("AWS::Events::EventBus", "AWS::Events::Archive"):
                continue  # named by _create_event_bus / _create_archive, right below
            elif rtype == "AWS::SSM::Parameter":
                self._name_parameter(lid)  # created last, by _create_parameters
            else:
                tpl.refs[lid] = name
                service = rtype.split("::")[1].lower() if rtype.count("::") >= 2 else "local"
                tpl.attributes[(lid, "Arn")] = f"arn:aws:{service}:{region}:{account}:{name}"
        for lid in tpl.resources_of_type("AWS::Events::EventBus"):
            self._create_event_bus(lid)
        for lid in tpl.resources_of_type("AWS::Events::Archive"):
            self._create_archive(lid)
        for lid in tpl.resources_of_type("AWS::DynamoDB::Table"):
            self._create_table(lid)
        queues = tpl.resources_of_type("AWS::SQS::Queue")
        for lid in queues:
            self._create_queue(lid)
        for lid in queues:
            self._set_redrive(lid)
        for lid in tpl.resources_of_type("AWS::SNS::Topic"):
            self._create_topic(lid)
        for lid in tpl.resources_of_type("AWS::SNS::Subscription"):
            props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
            tpl.refs[lid] = self._subscribe(lid, str(props["TopicArn"]), props)
        for lid in tpl.resources_of_type("AWS::SecretsManager::Secret"):
            self._create_secret(lid)
        for lid in tpl.resources_of_type("AWS::SES::ConfigurationSet"):
            props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
            name = self._name(lid, props.get("Name"))
            self.client("sesv2").create_configuration_set(ConfigurationSetName=name)
            tpl.refs[lid] = name
            tpl.attributes[(lid, "Name")] = name
        for lid in tpl.resources_of_type("AWS::SES::EmailIdentity"):
            props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
            identity = str(props["EmailIdentity"])
            kwargs: dict[str, Any] = {"EmailIdentity": identity}
            config_set = (props.get("ConfigurationSetAttributes") or {}).get("ConfigurationSetName")
            if config_set:
                kwargs["ConfigurationSetName"] = config_set
            self.client("sesv2").create_email_identity(**kwargs)
            tpl.refs[lid] = identity
        self._create_parameters()  # last: a value may name any resource above (an API id, a queue URL ...)

    def _create_event_bus(self, lid: str) -> None:
        """The bus (``!Ref`` and ``.Name``: its name, ``.Arn``: moto's ARN), tapped for :meth:`bus_events`."""
        tpl = self.template
        assert tpl is not None and self._bus_tap is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
        name = self._name(lid, props.get("Name"))
        kwargs: dict[str, Any] = {"Name": name}
        if props.get("Description"):
            kwargs["Description"] = str(props["Description"])
        if props.get("Tags"):
            kwargs["Tags"] = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props["Tags"]]
        arn = self.client("events").create_event_bus(**kwargs)["EventBusArn"]
        tpl.refs[lid] = name
        tpl.attributes[(lid, "Arn")] = arn
        tpl.attributes[(lid, "Name")] = name
        self._bus_tap.attach(name)

    def _create_archive(self, lid: str) -> None:
        """The archive (``!Ref``: its name, ``.Arn``: its ARN); one moto refuses is logged and skipped."""
        tpl = self.template
        assert tpl is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
        name = str(props.get("ArchiveName") or self._name(lid)[:48])
        kwargs: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": str(props["SourceArn"])}
        pattern = props.get("EventPattern")
        if pattern:
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if props.get("RetentionDays") is not None:
            kwargs["RetentionDays"] = int(props["RetentionDays"])
        if props.get("Description"):
            kwargs["Description"] = str(props["Description"])
        try:
            arn = self.client("events").create_archive(**kwargs)["ArchiveArn"]
        except ClientError as exc:
            log.warning("archive %s (%s) not created locally: %s", lid, name, exc)
            arn = f"arn:aws:events:{self.region}:{self.account_id}:archive/{name}"
        tpl.refs[lid] = name
        tpl.attributes[(lid, "Arn")] = arn

    def _create_topic(self, lid: str) -> None:
        """The topic (``!Ref`` and ``.TopicArn``: its ARN, ``.TopicName``) and the subscriptions it lists."""
        tpl = self.template
        assert tpl is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
        name = self._name(lid, props.get("TopicName"))
        keys = ("DisplayName", "FifoTopic", "ContentBasedDeduplication")
        attributes = {k: _attr(props[k]) for k in keys if k in props}
        if _flag(props.get("FifoTopic")) and not name.endswith(".fifo"):
            name += ".fifo"
        kwargs: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["Tags"] = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props["Tags"]]
        arn = self.client("sns").create_topic(**kwargs)["TopicArn"]
        tpl.refs[lid] = arn
        tpl.attributes[(lid, "TopicArn")] = arn
        tpl.attributes[(lid, "TopicName")] = name
        for subscription in props.get("Subscription") or []:
            self._subscribe(lid, arn, subscription)

    _SUBSCRIPTION_ATTRIBUTES = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")

    def _subscribe(self, lid: str, topic_arn: str, props: Mapping[str, Any]) -> str:
        """Subscribe an SQS queue to the topic (moto then delivers every Publish to it); other protocols (e-mail
        to a person, Lambda, HTTP ...) are not emulated. Returns the subscription ARN (``!Ref``)."""
        protocol, endpoint = str(props.get("Protocol", "")).lower(), str(props.get("Endpoint", ""))
        if protocol != "sqs":
            log.debug("%s: %s subscription to %s is not emulated (only sqs)", lid, protocol, topic_arn)
            return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, f'{lid}/{protocol}/{endpoint}')}"
        attributes = {}
        for key in self._SUBSCRIPTION_ATTRIBUTES:
            if props.get(key) is not None:
                value = props[key]
                attributes[key] = json.dumps(value) if isinstance(value, (dict, list)) else _attr(value)
        try:
            response = self.client("sns").subscribe(
                TopicArn=topic_arn, Protocol="sqs", Endpoint=endpoint, Attributes=attributes, ReturnSubscriptionArn=True
            )
        except ClientError as exc:  # e.g. a topic that is not in the template
            log.warning("%s: subscription of %s to %s not created locally: %s", lid, endpoint, topic_arn, exc)
            return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, f'{lid}/sqs/{endpoint}')}"
        return str(response["SubscriptionArn"])

    def _create_secret(self, lid: str) -> None:
        """The secret (``!Ref`` and ``.Id``: its ARN, as in CloudFormation), so functions can GetSecretValue it."""
        tpl = self.template
        assert tpl is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
        name = self._name(lid, props.get("Name"))
        if lid in self._secret_values:
            value = str(self._secret_values[lid])
        elif props.get("SecretString") is not None:
            value = str(props["SecretString"])
        else:
            value = self._generate_secret(props.get("GenerateSecretString") or {})
        kwargs: dict[str, Any] = {"Name": name, "SecretString": value}
        if props.get("Description"):
            kwargs["Description"] = str(props["Description"])
        if props.get("Tags"):
            kwargs["Tags"] = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props["Tags"]]
        arn = self.client("secretsmanager").create_secret(**kwargs)["ARN"]
        tpl.refs[lid] = arn
        tpl.attributes[(lid, "Id")] = arn

    def _generate_secret(self, spec: Mapping[str, Any]) -> str:
        """``GenerateSecretString``: a random password by its rules (GetRandomPassword on moto), put under
        ``GenerateStringKey`` into ``SecretStringTemplate`` when there is one."""
        flags = ("ExcludeNumbers", "ExcludePunctuation", "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace")
        kwargs: dict[str, Any] = {
            "PasswordLength": int(spec.get("PasswordLength", 32)),
            "RequireEachIncludedType": _flag(spec.get("RequireEachIncludedType", True)),
            **{k: _flag(spec[k]) for k in flags if k in spec},
        }
        if spec.get("ExcludeCharacters"):
            kwargs["ExcludeCharacters"] = str(spec["ExcludeCharacters"])
        password = self.client("secretsmanager").get_random_password(**kwargs)["RandomPassword"]
        template = spec.get("SecretStringTemplate")
        if template is None:
            return str(password)
        document = json.loads(template) if isinstance(template, str) else dict(template)
        document[str(spec["GenerateStringKey"])] = password
        return json.dumps(document)

    def _parameter_name(self, lid: str) -> str:
        tpl = self.template
        assert tpl is not None
        name = (tpl.resources[lid].get("Properties") or {}).get("Name")
        return self._name(lid, tpl.resolve(name) if name is not None else None)

    def _name_parameter(self, lid: str) -> None:
        """``!Ref`` of an ``AWS::SSM::Parameter`` is its name: known before it is created when ``Name`` resolves
        already (it usually needs only parameters and pseudo parameters), else set by :meth:`_create_parameter`."""
        assert self.template is not None
        try:
            self.template.refs[lid] = self._parameter_name(lid)
        except TemplateError:
            pass

    def _create_parameters(self) -> None:
        """Every ``AWS::SSM::Parameter``; one whose ``Name`` or ``Value`` refers to another parameter that is not
        created yet (``!GetAtt Other.Value``) waits for it, as CloudFormation's dependency order would."""
        pending = list(self.template.resources_of_type("AWS::SSM::Parameter")) if self.template else []
        while pending:
            waiting = []
            for lid in pending:
                try:
                    self._create_parameter(lid)
                except TemplateError:
                    waiting.append(lid)
            if len(waiting) == len(pending):
                self._create_parameter(waiting[0])  # no progress: raise its TemplateError
            pending = waiting
        self._forget_cached_parameters()

    def _create_parameter(self, lid: str) -> None:
        """The parameter on moto (``!Ref``: its name, as in CloudFormation; ``.Type``, ``.Value``), so functions can
        GetParameter it. ``Name`` defaults to ``<name_prefix>-<LogicalId>``."""
        tpl = self.template
        assert tpl is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})  # TemplateError before any side effect
        name = self._name(lid, props.get("Name"))
        kind = str(props.get("Type") or "String")
        if kind not in ("String", "StringList"):
            raise TemplateError(f"{lid}: AWS::SSM::Parameter Type {kind!r} is not String or StringList")
        value = props.get("Value")
        if value is None:
            raise TemplateError(f"{lid}: AWS::SSM::Parameter needs a Value")
        value = ",".join(str(v) for v in value) if isinstance(value, list) else _attr(value)
        kwargs: dict[str, Any] = {"Name": name, "Value": value, "Type": kind}
        for key in ("Description", "AllowedPattern", "Tier", "DataType"):
            if props.get(key):
                kwargs[key] = str(props[key])
        tags = props.get("Tags")
        if tags:  # a JSON map in CloudFormation ({key: value}); a Key/Value list is taken too
            items = tags.items() if isinstance(tags, Mapping) else ((t["Key"], t["Value"]) for t in tags)
            kwargs["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in items]
        self.client("ssm").put_parameter(**kwargs)
        tpl.refs[lid] = name
        tpl.attributes[(lid, "Type")] = kind
        tpl.attributes[(lid, "Value")] = value

    @staticmethod
    def _forget_cached_parameters() -> None:
        """Powertools keeps fetched parameter values (and its SSM client) per process: a function of this cloud must
        not get a value, or a moto endpoint, of an earlier cloud in the same process."""
        try:
            from aws_lambda_powertools.utilities.parameters import clear_caches
        except ImportError:  # pragma: no cover - Powertools is in the layer the functions import
            return
        clear_caches()

    def _create_table(self, lid: str) -> None:
        tpl = self.template
        assert tpl is not None
        props = tpl.resolve(tpl.resources[lid].get("Properties") or {})
        name = self._name(lid, props.get("TableName"))
        on_demand = props.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST"
        throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
        }
        if not on_demand:
            kwargs["ProvisionedThroughput"] = _ints(throughput)
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = []
            for index in props.get(key) or []:
                index = {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
                if key == "GlobalSecondaryIndexes" and not on_demand and "ProvisionedThroughput" not in index:
                    index["ProvisionedThroughput"] = _ints(throughput)
                if on_demand or key == "LocalSecondaryIndexes":
                    index.pop("ProvisionedThroughput", None)
                indexes.append(index)
            if indexes:
                kwargs[key] = indexes
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        tpl.refs[lid] = name
        tpl.attributes[(lid, "Arn")] = description["TableArn"]
        if description.get("LatestStreamArn"):
            tpl.attributes[(lid, "StreamArn")] = description["LatestStreamArn"]

    _QUEUE_ATTRIBUTES = (
        "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
        "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication",
    )

    def _create_queue(self, lid: str) -> None:
        tpl = self.template
        assert tpl is not None
        props = tpl.resources[lid].get("Properties") or {}
        plain = tpl.resolve({k: v for k, v in props.items() if k not in ("RedrivePolicy", "RedriveAllowPolicy")})
        name = self._name(lid, plain.get("QueueName"))
        if str(plain.get("FifoQueue")).lower() == "true" and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {k: _attr(plain[k]) for k in self._QUEUE_ATTRIBUTES if k in plain}
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"
        tpl.refs[lid] = url
        tpl.attributes[(lid, "Arn")] = arn
        tpl.attributes[(lid, "QueueName")] = name
        tpl.attributes[(lid, "QueueUrl")] = url
        self._queue_urls_by_arn[arn] = url

    def _set_redrive(self, lid: str) -> None:
        tpl = self.template
        assert tpl is not None
        props = tpl.resources[lid].get("Properties") or {}
        if not props.get("RedrivePolicy"):
            return
        policy = tpl.resolve(props["RedrivePolicy"])
        if isinstance(policy, str):
            policy = json.loads(policy)
        policy = {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}
        self.client("sqs").set_queue_attributes(
            QueueUrl=tpl.refs[lid], Attributes={"RedrivePolicy": json.dumps(policy)}
        )

    def _create_identities_for_senders(self) -> None:
        """The configured sender address itself is made an identity too (so any From works locally)."""
        senders = set()
        for spec in self.functions.values():
            for key, value in spec.environment.items():
                if ("SENDER" in key or "FROM" in key) and "@" in value:
                    senders.add(value.strip())
        for sender in sorted(senders):
            self.client("sesv2").create_email_identity(EmailIdentity=sender)

    def _create_schedules(self) -> None:
        for spec in self.functions.values():
            for event in spec.events_of_type("ScheduleV2"):
                props = event.properties
                name = str(props.get("Name") or f"{self.name_prefix}-{spec.logical_id}-{event.name}")[:64]
                group = str(props.get("GroupName") or "default")
                timezone = props.get("ScheduleExpressionTimezone")
                expression = parse_schedule_expression(str(props["ScheduleExpression"]), timezone, self.start_time)
                retry = props.get("RetryPolicy") or {}
                dead_letter = (props.get("DeadLetterConfig") or {}).get("Arn")
                target: dict[str, Any] = {
                    "Arn": spec.arn,
                    "RoleArn": f"arn:aws:iam::{self.account_id}:role/{self.name_prefix}-scheduler",
                    "RetryPolicy": {
                        "MaximumRetryAttempts": int(retry.get("MaximumRetryAttempts", 185)),
                        "MaximumEventAgeInSeconds": int(retry.get("MaximumEventAgeInSeconds", 86400)),
                    },
                }
                if props.get("Input") is not None:
                    target["Input"] = str(props["Input"])
                if dead_letter:
                    target["DeadLetterConfig"] = {"Arn": dead_letter}
                kwargs: dict[str, Any] = {
                    "Name": name,
                    "GroupName": group,
                    "ScheduleExpression": str(props["ScheduleExpression"]),
                    "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                    "Target": target,
                    "State": str(props.get("State") or "ENABLED"),
                }
                if timezone:
                    kwargs["ScheduleExpressionTimezone"] = timezone
                if props.get("Description"):
                    kwargs["Description"] = str(props["Description"])
                arn = self.client("scheduler").create_schedule(**kwargs)["ScheduleArn"]
                self.schedules[(spec.logical_id, event.name)] = ScheduleTrigger(
                    function=spec.logical_id,
                    event=event.name,
                    name=name,
                    arn=arn,
                    expression=expression,
                    input=target.get("Input"),
                    enabled=kwargs["State"] == "ENABLED",
                    max_retries=target["RetryPolicy"]["MaximumRetryAttempts"],
                    dead_letter_arn=dead_letter,
                    start=parse_instant(str(props["StartDate"])) if props.get("StartDate") else None,
                    end=parse_instant(str(props["EndDate"])) if props.get("EndDate") else None,
                )

    def _create_consumers(self) -> None:
        for spec in self.functions.values():
            for event in spec.events_of_type("DynamoDB"):
                consumer = StreamConsumer(self, spec, event)
                consumer.start()
                self.stream_consumers.append(consumer)
            for event in spec.events_of_type("SQS"):
                sqs_consumer = SqsConsumer(self, spec, event)
                sqs_consumer.start()
                self.sqs_consumers.append(sqs_consumer)

    def _forget_shard_iterator(self, iterator: str) -> None:
        """moto keeps every shard iterator it ever issued; drop the used ones (long ``serve`` runs)."""
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        dynamodbstreams_backends[self.account_id][self.region].shard_iterators.pop(iterator, None)

    def _send_to_destination(self, arn: str, body: str, attributes: Mapping[str, str] | None = None) -> None:
        if not arn.startswith("arn:aws:sqs:"):
            log.warning("destination %s is not an SQS queue: dropped", arn)
            return
        kwargs: dict[str, Any] = {"QueueUrl": self.queue_url_for_arn(arn), "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = {
                k: {"DataType": "String", "StringValue": str(v)} for k, v in attributes.items()
            }
        self.client("sqs").send_message(**kwargs)

    # ------------------------------------------------------------------ invoking

    def _activate(self, function: str) -> None:
        if self._active_function == function:
            return
        previous = self.runtimes[self._active_function].environment if self._active_function else {}
        current = self.runtimes[function].environment
        stale = {k: v for k, v in previous.items() if k not in current}
        self._env.set(current)
        for key in stale:
            saved = self._env._saved.get(key)
            if saved is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved
        _reset_settings()
        self._active_function = function

    def _invoke(self, function: str, event: Any, source: str) -> Invocation:
        """Call the handler once (never raises for handler errors: see ``Invocation.ok``)."""
        with self._lock:
            runtime = self.runtimes[function]
            self._activate(function)
            request_id = str(uuid.uuid4())
            at = self.clock.now()
            payload = json.loads(json.dumps(event))  # what goes over the wire: a fresh JSON copy
            t0 = time.perf_counter()
            result: Any = None
            error: BaseException | None = None
            with capture_output(self.quiet) as captured:
                try:
                    handler = runtime.handler()
                    context = LambdaContext(runtime.spec, request_id)
                    result = handler(payload, context)
                    result = json.loads(json.dumps(result)) if result is not None else None
                except Exception as exc:  # noqa: BLE001 - a function error, reported like Lambda does
                    error = exc
            invocation = Invocation(
                function=function,
                source=source,
                request_id=request_id,
                at=at,
                ok=error is None,
                result=result,
                error=error,
                traceback=format_exception(error) if error else None,
                duration_ms=(time.perf_counter() - t0) * 1000,
                log=captured.getvalue() if captured else "",
            )
            self.invocations[function] += 1
            self.history.append(invocation)
            if self.function_log is not None and (invocation.log or invocation.traceback):
                text = invocation.log + (f"{function} failed:\n{invocation.traceback}" if invocation.traceback else "")
                with self.function_log.open("a", encoding="utf-8") as sink:
                    sink.write(text if text.endswith("\n") else text + "\n")
            if error is not None:
                self.errors.append(invocation)
                if self.log_tracebacks:
                    log.warning("%s (%s) failed:\n%s", function, source, invocation.traceback)
                else:
                    log.warning("%s (%s) failed: %s: %s", function, source, type(error).__name__, error)
            if self._mail is not None:
                self._mail.collect()
            if self._ses is not None:
                self._ses.collect()
            if self._bus_tap is not None:
                self._bus_tap.collect()
            return invocation

    def invoke(self, function: str, event: Any = None, *, settle: bool = True) -> Any:
        """Invoke ``function`` (logical id) synchronously like ``lambda invoke``; re-raises its error."""
        with self._lock:
            invocation = self._invoke(function, {} if event is None else event, source="direct")
            if settle:
                self.settle()
        if invocation.error is not None:
            raise invocation.error
        return invocation.result

    def skip_stream_backlog(self) -> int:
        """Move every stream consumer past the records waiting in its stream (as if its event source mapping had
        just been created with ``StartingPosition: LATEST``): for bulk loads a benchmark does not measure.
        Returns how many records were skipped."""
        return sum(consumer.skip_to_latest() for consumer in self.stream_consumers)

    def settle(self) -> int:
        """Pump streams and queues until nothing is left to deliver. Returns the invocations made."""
        with self._lock:
            for consumer in self.stream_consumers:
                consumer.blocked = False
            for sqs_consumer in self.sqs_consumers:
                sqs_consumer.new_settle()
            total = 0
            for _ in range(self.max_settle_rounds):
                made = 0
                for consumer in self.stream_consumers:
                    if not consumer.blocked:  # a blocked shard is retried on the next settle
                        made += consumer.pump()
                for sqs_consumer in self.sqs_consumers:
                    made += sqs_consumer.pump()
                if self._mail is not None:
                    self._mail.collect()
                # SES events of mail sent outside an invocation (a test's own client) are new work too
                published = self._ses.collect() if self._ses is not None else 0
                if self._bus_tap is not None:
                    self._bus_tap.collect()
                total += made
                if made == 0 and published == 0:
                    return total
            raise SettleError(f"streams and queues still busy after {self.max_settle_rounds} rounds")

    # ------------------------------------------------------------------ schedules

    def advance(
        self, to_or_delta: timedelta | datetime | str, *, rate_resolution: timedelta | None = None
    ) -> list[Firing]:
        """Move the clock forward, firing every schedule occurrence in between, in order.

        ``to_or_delta`` is a ``timedelta``, an aware ``datetime``, or a string (``"7d"``, ``"PT6H"``, or an
        ISO instant). Each occurrence ``t`` with ``now < t <= target`` is fired with the clock set to
        ``t``, then streams and queues settle; at the end the clock is at the target.

        ``rate_resolution`` coalesces ``rate(...)`` schedules to at most one firing per window of that
        size (the last occurrence of the window), which makes fast-forwarding months cheap. Nothing is
        lost for the product's ``rate(15 minutes)`` timer sweep: each sweep queues *every* timer that is
        due at its scheduled time, so fewer sweeps only make due timers fire up to one window later.
        Cron schedules are never coalesced.
        """
        with self._lock:
            now = self.clock.now()
            target = self._target(to_or_delta, now)
            if target < now:
                raise ValueError(f"cannot move the clock back from {_iso_z(now)} to {_iso_z(target)}")
            fired: list[Firing] = []
            self.settle()
            while True:
                now = self.clock.now()
                due: list[tuple[datetime, ScheduleTrigger]] = []
                for trigger in self.schedules.values():
                    if not trigger.enabled:
                        continue
                    when = trigger.next_after(now, target, rate_resolution)
                    if when is not None:
                        due.append((when, trigger))
                if not due:
                    break
                first = min(when for when, _ in due)
                self.clock.set(first)
                for when, trigger in due:
                    if when == first:
                        fired.append(self._fire(trigger, first))
            self.clock.set(target)
            self.settle()
            return fired

    @staticmethod
    def _target(to_or_delta: timedelta | datetime | str, now: datetime) -> datetime:
        if isinstance(to_or_delta, timedelta):
            return now + to_or_delta
        if isinstance(to_or_delta, datetime):
            if to_or_delta.tzinfo is None:
                raise ValueError("advance() needs a timezone-aware datetime")
            return to_or_delta.astimezone(UTC)
        text = str(to_or_delta).strip()
        try:
            return now + parse_duration(text)
        except ValueError:
            return parse_instant(text)

    def fire(self, function: str, event: str, at: datetime | None = None) -> Firing:
        """Fire one occurrence of a schedule now (the clock does not move), then settle.

        ``at`` is the occurrence's scheduled time put into ``<aws.scheduler.scheduled-time>`` (default:
        the clock's now). Firing twice with the same ``at`` reproduces Scheduler's at-least-once delivery.
        """
        with self._lock:
            try:
                trigger = self.schedules[(function, event)]
            except KeyError:
                raise KeyError(f"no ScheduleV2 event {event!r} on {function}") from None
            return self._fire(trigger, (at or self.clock.now()).astimezone(UTC))

    def _fire(self, trigger: ScheduleTrigger, scheduled_time: datetime) -> Firing:
        execution_id = str(uuid.uuid4())
        invocation: Invocation | None = None
        attempts = 0
        payload: Any = None
        for attempt in range(1, trigger.max_retries + 2):
            attempts = attempt
            payload = trigger.render(scheduled_time, execution_id, attempt)
            invocation = self._invoke(trigger.function, payload, source="schedule")
            if invocation.ok:
                break
        assert invocation is not None
        dlq = False
        if not invocation.ok and trigger.dead_letter_arn:
            self._send_to_destination(
                trigger.dead_letter_arn,
                payload if isinstance(payload, str) else json.dumps(payload),
                {
                    "ERROR_CODE": "AWS.Lambda.FunctionError",
                    "ERROR_MESSAGE": f"{type(invocation.error).__name__}: {invocation.error}"[:1000],
                    "EXECUTION_ID": execution_id,
                    "RETRY_ATTEMPTS": str(attempts - 1),
                    "SCHEDULE_ARN": trigger.arn,
                    "TARGET_ARN": self.functions[trigger.function].arn,
                },
            )
            dlq = True
        firing = Firing(trigger.function, trigger.event, scheduled_time, invocation.ok, attempts, dlq, invocation)
        self.firings.append(firing)
        self.settle()
        return firing

    # ------------------------------------------------------------------ HTTP

    def http(
        self,
        method: str,
        path: str,
        json: Any = None,  # noqa: A002 - mirrors requests/httpx
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: Any = _DEFAULT,
        query: Mapping[str, Any] | None = None,
    ) -> HttpResponse:
        """Call the HTTP API in-process (no socket): returns ``HttpResponse(status, headers, body)``.

        ``token`` defaults to the local token; ``None`` sends no ``Authorization`` header.
        """
        from urllib.parse import urlencode

        raw_path, _, raw_query = path.partition("?")
        if query:
            raw_query = "&".join(filter(None, [raw_query, urlencode(query, doseq=True)]))
        all_headers = {"user-agent": "crm-local", "host": "127.0.0.1"}
        if json is not None:
            import json as _json

            body = _json.dumps(json)
            all_headers["content-type"] = "application/json"
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        token_value = self.token if token is _DEFAULT else token
        if token_value is not None and "authorization" not in all_headers:
            all_headers["authorization"] = f"Bearer {token_value}"
        payload = body.encode() if isinstance(body, str) else body
        return self.http_request(method, raw_path, query=raw_query, headers=all_headers, body=payload)

    def http_request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        source_ip: str = "127.0.0.1",
        domain: str = "127.0.0.1",
    ) -> HttpResponse:
        """One HTTP request (the socket server and :meth:`http` both end here)."""
        method = method.upper()
        headers = dict(headers or {})
        if path.startswith("/_local/"):
            return self._control(method, path, headers, body)
        assert self.router is not None
        matched = self.router.match(method, path)
        if matched is None:
            return message(404, "Not Found")
        route, params = matched
        authorizer = None
        if route.auth == "AWS_IAM":
            denied = self._check_token(headers)
            if denied is not None:
                return denied
            authorizer = iam_authorizer(self.account_id)
        with self._lock:
            event = build_event(
                route, {k: unquote(v) for k, v in params.items()}, method, path, query, headers, body,
                now=self.clock.now(), source_ip=source_ip, domain=domain, account_id=self.account_id,
                authorizer=authorizer,
            )
            invocation = self._invoke(route.function, event, source="http")
            response = to_response(invocation.result) if invocation.ok else message(500, "Internal Server Error")
            self.settle()
        return response

    def _check_token(self, headers: Mapping[str, str]) -> HttpResponse | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not value:
            return message(401, "Unauthorized")
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip(), self.token):
            return message(403, "Forbidden")
        return None

    def _control(self, method: str, path: str, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        denied = self._check_token(headers)
        if denied is not None:
            return denied
        if path.rstrip("/") == "/_local/clock":
            if method == "GET":
                return _json_response(200, {"now": _iso_z(self.clock.now())})
            if method != "POST":
                return message(405, "Method Not Allowed")
            try:
                request = json.loads(body or b"{}")
                resolution = request.get("rate_resolution")
                if "advance" in request:
                    firings = self.advance(
                        str(request["advance"]),
                        rate_resolution=parse_duration(resolution) if resolution else None,
                    )
                elif "to" in request:
                    firings = self.advance(
                        parse_instant(str(request["to"])),
                        rate_resolution=parse_duration(resolution) if resolution else None,
                    )
                else:
                    return message(400, 'send {"advance": "7d"} or {"to": "2026-06-01T06:00:00Z"}')
            except ValueError as exc:
                return message(400, str(exc))
            return _json_response(
                200,
                {
                    "now": _iso_z(self.clock.now()),
                    "fired": [
                        {"function": f.function, "event": f.event, "scheduled_time": _iso_z(f.scheduled_time), "ok": f.ok}
                        for f in firings
                    ],
                },
            )
        if path.rstrip("/") == "/_local/status" and method == "GET":
            return _json_response(200, self.status())
        return message(404, "Not Found")

    def status(self) -> dict[str, Any]:
        return {
            "now": _iso_z(self.clock.now()),
            "endpoint_url": self.endpoint_url,
            "http_url": self.http_url,
            "invocations": dict(self.invocations),
            "filtered": dict(self.filtered),
            "errors": len(self.errors),
            "mail_files": [str(p) for p in self.mail_files],
        }

    def serve_http(self, port: int = 0) -> str:
        """Serve the HTTP API (and ``/_local/*``) on 127.0.0.1; returns its base URL."""
        if self._http_server is None:
            self._http_server = HttpApiServer(self, port=port)
            self._http_server.start()
        return self._http_server.url

    def routes(self) -> list[Route]:
        return list(self.router.routes) if self.router else []

    # ------------------------------------------------------------------ background pump

    def start_pump(self, interval: float = 0.2, *, realtime: bool = False) -> None:
        """Settle every ``interval`` seconds in a thread (``serve``: streams and queues react in real time).

        With ``realtime`` the clock also follows wall time (each tick advances it by the wall time that
        passed, firing due schedules); ``/_local/clock`` can still jump it forward.
        """
        if self._pump_thread is not None:
            return
        self._pump_stop.clear()

        def loop() -> None:
            last = time.monotonic()
            while not self._pump_stop.wait(interval):
                try:
                    if realtime:
                        now = time.monotonic()
                        self.advance(timedelta(seconds=now - last))
                        last = now
                    else:
                        self.settle()
                except Exception:  # noqa: BLE001 - keep pumping
                    log.exception("background settle failed")

        self._pump_thread = threading.Thread(target=loop, name="crm-local-pump", daemon=True)
        self._pump_thread.start()

    def stop_pump(self) -> None:
        if self._pump_thread is not None:
            self._pump_stop.set()
            self._pump_thread.join(timeout=10)
            self._pump_thread = None


def _json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(payload))


def _ints(value: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in value.items()}


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(value: Any) -> bool:
    """A CloudFormation Boolean (``true``, ``"true"``, ``"True"``)."""
    return _attr(value).lower() == "true"
