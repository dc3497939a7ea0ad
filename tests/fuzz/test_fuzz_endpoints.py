"""Fuzzing every public route of the template (issue 6): never a 5xx, never a partial write.

Given the real template on the local emulation (one per session) with a few contacts, deals, tasks, campaigns and
unsubscribe tokens, when each route the template declares gets its share of ``FUZZ_CASES`` requests (bodies
generated from the OpenAPI documents of the functions' resolvers, mixed with hostile input), then:

- no response is a 5xx and no function (the route's, or a stream or queue consumer it triggers) fails;
- a 4xx, and any GET, changed no business item in any table (rate-limit ``RATE*`` items and the idempotency table
  aside), put no message on a queue, sent no e-mail and put no event on the bus;
- a 2xx that wrote a resource left it whole: the resource reads back (``GET``) with the values the write answered.

Routes are discovered from ``template.yaml``, so a route added to the template is fuzzed without a change here.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from crm_automation.domain.addresses import address_key
from crm_automation.domain.models import Task, TaskStatus
from crm_automation.services.suppressions import unsubscribe_link
from crm_local import LocalCloud
from crm_local.http import HttpResponse
from crm_local.template import parse_yaml
from tests.fuzz.cases import (
    Case,
    Pools,
    RouteSpec,
    coherent,
    encode_path,
    encoded_body,
    generic_body,
    headers_strategy,
    hostile_json_value,
    mutated,
    path_value,
    query_strategy,
    realistic,
    schema_strategy,
    source_ips,
)
from tests.fuzz.conftest import FuzzStats, WriteLog, total_cases
from tests.fuzz.lead_cases import LEAD_ROUTES, lead_cases
from tests.integration.conftest import ROOT, START, runtime_for


def discover_routes() -> list[RouteSpec]:
    """Every ``Type: HttpApi`` event of the template (the same source the emulation's router reads)."""
    template = parse_yaml((ROOT / "template.yaml").read_text(encoding="utf-8"))
    resources = template.get("Resources") or {}
    default_auth = {}
    for lid, res in resources.items():
        if res.get("Type") == "AWS::Serverless::HttpApi":
            default_auth[lid] = str(((res.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
                                    or "NONE")
    routes = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api = props.get("ApiId")
            api_id = str(api.get("Ref")) if isinstance(api, dict) else "ServerlessHttpApi"
            auth = str((props.get("Auth") or {}).get("Authorizer") or default_auth.get(api_id, "NONE"))
            routes.append(RouteSpec(lid, str(props.get("Method") or "ANY").upper(), str(props.get("Path") or "/"),
                                    "NONE" if auth == "NONE" else "AWS_IAM"))
    # archiving and erasing last: they take the seeded contacts out of what the other routes can reach
    return sorted(routes, key=lambda r: (any(w in r.path for w in ("erase", "archive")), r.path, r.method))


ROUTES = discover_routes()
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "0"))
CLOCK_EVERY = 50  # requests between two one-minute steps of the emulation's clock
SHRINK = os.environ.get("FUZZ_SHRINK") == "1"
DEBUG = os.environ.get("FUZZ_DEBUG") == "1"
OWNERS = ["petr.svoboda", "marie.kralova", "jan.novak"]


# --------------------------------------------------------------------------------------------- the world


@dataclass
class Snapshot:
    invocations: int
    errors: int
    mail: int
    bus: int
    queued: int


@dataclass
class Failure:
    problem: str
    case: Case
    status: int
    detail: str
    count: int = 1


@dataclass
class World:
    cloud: LocalCloud
    writes: WriteLog
    pools: Pools
    operations: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]  # (METHOD, path) -> (op, components)
    ignore_tables: set[str]
    failures: dict[str, dict[str, Failure]] = field(default_factory=dict)
    sent: int = 0

    # ---------------------------------------------------------------- observation

    def snapshot(self) -> Snapshot:
        from moto.sqs.models import sqs_backends

        queues = sqs_backends[self.cloud.account_id][self.cloud.region].queues.values()
        return Snapshot(
            invocations=sum(self.cloud.invocations.values()),
            errors=len(self.cloud.errors),
            mail=len(self.cloud.mail_messages),
            bus=len(self.cloud.bus_events()),
            queued=sum(len(q._messages) for q in queues),
        )

    def fail(self, route: str, problem: str, case: Case, status: int, detail: str) -> None:
        signature = f"{problem}: {detail.splitlines()[-1] if detail else ''}"[:300]
        seen = self.failures.setdefault(route, {})
        if signature in seen:
            seen[signature].count += 1
            if len(case.describe()) < len(seen[signature].case.describe()):
                seen[signature].case, seen[signature].status = case, status  # keep the shortest input
            return
        seen[signature] = Failure(problem, case, status, detail)

    def _error_detail(self, since: int) -> str:
        lines = []
        for invocation in list(self.cloud.errors)[since:]:
            tb = (invocation.traceback or "").strip().splitlines()
            frames = [line.strip() for line in tb if line.strip().startswith("File ")]
            project = [f for f in frames if "/site-packages/" not in f]
            where = (project or frames or ["?"])[-1]
            lines.append(f"{invocation.function} ({invocation.source}): {where}\n{tb[-1] if tb else invocation.error}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- one request, with the invariants

    def send(self, route: RouteSpec, case: Case, stats: FuzzStats) -> HttpResponse:
        self.sent += 1
        if self.sent % CLOCK_EVERY == 0:  # a minute passes now and then: rate limits refill, schedules run
            errors = len(self.cloud.errors)
            self.cloud.advance(timedelta(seconds=61))
            if len(self.cloud.errors) > errors:
                self.fail(route.key, "a scheduled or triggered run failed after the clock moved",
                          Case("clock", "-", "+61 s"), 0, self._error_detail(errors))
        sign = SIGNERS.get(route.key)
        if sign is not None and case.sign is not None:  # the case says how (lead_cases: realistic chatbot events)
            case.headers = {**case.headers, **sign(self, case.body or b"", case.sign)}
        elif sign is not None and case.kind.startswith(("valid", "generic", "mutated")) and case.body is not None \
                and self.sent % 10 < 8:
            case.headers = {**case.headers, **sign(self, case.body)}
        response: HttpResponse | None = None
        for _ in range(case.repeat):
            response = self._send_once(route, case, stats)
        assert response is not None
        return response

    def _send_once(self, route: RouteSpec, case: Case, stats: FuzzStats) -> HttpResponse:
        key = route.key
        before = self.snapshot()
        self.writes.reset()
        t0 = time.perf_counter()
        response = self.cloud.http_request(case.method, case.path, query=case.query, headers=case.headers,
                                           body=case.body, source_ip=case.source_ip)
        stats.routes[key].seconds += time.perf_counter() - t0
        stats.record(key, case.kind, response.status)
        after = self.snapshot()
        if DEBUG and case.kind == "valid" and response.status >= 400:
            print(f"\n[fuzz] {key} valid -> {response.status} {response.text[:300]}")
        if response.status >= 500:
            self.fail(key, f"HTTP {response.status}", case, response.status,
                      self._error_detail(before.errors) or response.text[:300])
        elif after.errors > before.errors:
            self.fail(key, "a triggered function failed", case, response.status, self._error_detail(before.errors))
        if response.status >= 400 or case.method in ("GET", "HEAD"):
            self._nothing_changed(key, case, response, before, after)
        elif 200 <= response.status < 300:
            self._collect_ids(response)
            self._read_back(route, case, response)
        return response

    def _nothing_changed(self, key: str, case: Case, response: HttpResponse, before: Snapshot,
                         after: Snapshot) -> None:
        what = "a GET" if case.method in ("GET", "HEAD") and response.status < 400 else f"HTTP {response.status}"
        changed = self.writes.changes(self.ignore_tables)
        if changed:
            tables = sorted({t.removeprefix(f"{self.cloud.name_prefix}-") for t, _ in changed})
            self.fail(key, f"{what} changed items", case, response.status,
                      f"{', '.join(tables)}: {[k for _, k in changed][:3]!r}")
        if after.invocations - before.invocations > 1:
            self.fail(key, f"{what} triggered functions", case, response.status,
                      f"{after.invocations - before.invocations - 1} invocation(s) beyond the route's own")
        for name in ("mail", "bus", "queued"):
            if getattr(after, name) != getattr(before, name):
                self.fail(key, f"{what} left side effects", case, response.status,
                          f"{name}: {getattr(before, name)} -> {getattr(after, name)}")

    def _collect_ids(self, response: HttpResponse) -> None:
        try:
            body = response.json()
        except ValueError:
            return
        for obj in [body, *(v for v in body.values() if isinstance(v, dict))] if isinstance(body, dict) else []:
            for name, value in obj.items():
                if name.endswith("_id") or name == "owner":
                    self.pools.add(name, value)

    def _read_back(self, route: RouteSpec, case: Case, response: HttpResponse) -> None:
        """A write that answered 2xx with its resource: the resource reads back with the values it answered."""
        if "erase" in route.path or "archive" in route.path:
            return
        collection = route.path.strip("/").split("/")[0]
        id_name = f"{collection.rstrip('s')}_id"
        getter = next((r for r in ROUTES if r.method == "GET" and r.path == f"/{collection}/{{{id_name}}}"), None)
        try:
            body = response.json()
        except ValueError:
            return
        if getter is None or not isinstance(body, dict) or not isinstance(body.get(id_name), str):
            return
        read = self.cloud.http("GET", f"/{collection}/{quote_id(body[id_name])}")
        if read.status != 200:
            self.fail(route.key, "a 2xx write does not read back", case, read.status,
                      f"GET /{collection}/{body[id_name]} -> {read.status} {read.text[:200]}")
            return
        stored = read.json()
        stored = stored.get(collection.rstrip("s"), stored) if isinstance(stored, dict) else stored
        for name in ("email", "owner", "first_name", "last_name", "title", "name", "template", "contact_id"):
            if name in body and isinstance(stored, dict) and stored.get(name) != body[name]:
                self.fail(route.key, "a 2xx write reads back different", case, read.status,
                          f"{name}: answered {body[name]!r}, stored {stored.get(name)!r}")

    def sweep(self, route: RouteSpec, stats: FuzzStats) -> None:
        """Everything the fuzzing left behind still reads (a stored value that breaks a later read is a bug)."""
        for collection in ("contacts", "deals", "campaigns"):
            id_name = f"{collection.rstrip('s')}_id"
            for value in list(self.pools.ids.get(id_name, []))[:400]:
                read = self.cloud.http("GET", f"/{collection}/{quote_id(value)}")
                if read.status >= 500:
                    self.fail(route.key, f"GET /{collection}/{{id}} after fuzzing", Case("sweep", "GET", value),
                              read.status, self._error_detail(len(self.cloud.errors) - 1))


def _sign_chatbot(world: World, body: bytes, how: str = "good") -> dict[str, str]:
    """A valid X-Crm-Signature, so most chatbot cases get past the signature to the body; `how` other than "good":
    unsigned ("none"), signed too long ago or ahead ("stale", "future"), with another key, or over another body."""
    from crm_automation.domain.leads import SIGNATURE_HEADER, sign

    secret = world.cloud.client("secretsmanager").get_secret_value(
        SecretId=world.cloud.ref("ChatbotWebhookSecret"))["SecretString"]
    now = int(world.cloud.clock.now().timestamp())
    if how == "none":
        return {}
    timestamp = now + {"stale": -3600, "future": 3600}.get(how, 0)
    key = secret + "x" if how == "wrong-secret" else secret
    signed = body + b" " if how == "other-body" else body
    return {SIGNATURE_HEADER: sign(key, signed, timestamp)}


SIGNERS = {"POST /chatbot/events": _sign_chatbot}


def quote_id(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _openapi_documents(cloud: LocalCloud) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """The OpenAPI operations of every function behind a route whose Powertools resolver validates (its `app`)."""
    operations: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for function in sorted({r.function for r in cloud.routes()}):
        runtime = cloud.runtimes[function]
        with cloud._lock:  # import the handler module as the emulation does, in the function's environment
            cloud._activate(function)
            runtime.handler()
        app = getattr(runtime.module, "app", None)
        if app is None or not getattr(app, "_enable_validation", False):
            continue
        document = json.loads(app.get_openapi_json_schema())
        components = document.get("components", {})
        for path, ops in document.get("paths", {}).items():
            for method, op in ops.items():
                operations[(method.upper(), path)] = (op, components)
    return operations


def _seed(cloud: LocalCloud, pools: Pools) -> None:
    """A few records of every kind the routes address, so generated requests reach existing ones too."""
    rt = runtime_for(cloud)
    for owner in OWNERS:
        pools.add("owner", owner)
    people = [
        ("c-fuzz-1", "jana.novakova@example.cz", {"marketing_consent": {"granted": True, "at": "2024-01-01T00:00:00Z",
                                                                          "source": "web-form"},
                                                   "tags": ["Newsletter"]}),
        ("c-fuzz-2", "petr@example.com", {"satisfaction": "Vysoká nespokojenost"}),
        ("c-fuzz-3", None, {}),
        ("c-fuzz-4", "bounce@simulator.amazonses.com", {"marketing_consent": {"granted": True,
                                                                                "at": "2024-01-01T00:00:00Z",
                                                                                "source": "import"}}),
        ("c-fuzz-5", "Zdenek.Kral@Seznam.cz", {"marketing_status": "unsubscribed"}),
        ("c-fuzz-6", "marie.dvorakova@example.cz", {}),
    ]
    for contact_id, email, extra in people:
        payload = {"contact_id": contact_id, "first_name": "Jana", "last_name": "Nováková", "owner": OWNERS[0],
                   **({"email": email} if email else {}), **extra}
        response = cloud.http("POST", "/contacts", json=payload)
        assert response.status == 201, response.text
        pools.add("contact_id", contact_id)
        if email:
            pools.emails.append(email)
    for deal_id, contact_id, status in (("d-fuzz-1", "c-fuzz-1", "open"), ("d-fuzz-2", "c-fuzz-2", "postponed")):
        response = cloud.http("POST", "/deals", json={"deal_id": deal_id, "contact_id": contact_id,
                                                       "title": "Licence", "value": 1000, "status": status})
        assert response.status == 201, response.text
        pools.add("deal_id", deal_id)
    for task_id, workflow, status in (("t-fuzz-open", None, TaskStatus.OPEN),
                                      ("t-fuzz-escalation", "escalation", TaskStatus.OPEN),
                                      ("t-fuzz-done", None, TaskStatus.DONE),
                                      ("t-fuzz-cancelled", None, TaskStatus.CANCELLED)):
        rt.store.transact([rt.store.tasks.create_op(Task(
            task_id=task_id, owner=OWNERS[0], title="Zavolat", due_date=START.date(), contact_id="c-fuzz-1",
            workflow=workflow, status=status, created_at=START))])
        pools.add("task_id", task_id)
    for segment in ('tag "Newsletter"', "lifecycle = former_customer"):
        response = cloud.http("POST", "/campaigns", json={"name": "Fuzz", "template": "newsletter",
                                                           "segment_query": segment})
        assert response.status == 201, response.text
        pools.add("campaign_id", response.json()["campaign_id"])
    campaign_id = pools.ids["campaign_id"][0]
    for contact_id, email, list_id in (("c-fuzz-1", "jana.novakova@example.cz", campaign_id),
                                       ("c-fuzz-4", "bounce@simulator.amazonses.com", "inactivity"),
                                       ("c-gone", "gone@example.cz", campaign_id),
                                       ("c-fuzz-1", "other@example.cz", "cmp-unknown")):
        url, _ = unsubscribe_link(rt, contact_id, list_id, address_key(email, rt.keys.address))
        pools.add("u:token", url.rsplit("/", 1)[1])
    _consent_tokens(cloud, rt, pools)
    for form_id in ("kontakt", "newsletter", "default", "demo"):
        pools.add("form_id", form_id)
    cloud.settle()


def _consent_tokens(cloud: LocalCloud, rt: Any, pools: Pools) -> None:
    """Double opt-in links of pending consents (a form submission with consent asks for one), when the template has
    the confirmation route."""
    if not any(r.path == "/c/{token}" for r in cloud.routes()):
        return
    from crm_automation.services import consent

    for contact_id in ("c-fuzz-6", "c-fuzz-4"):
        response = cloud.http("POST", f"/contacts/{contact_id}/consents",
                              json={"purpose": "marketing", "granted": True, "source": "fuzz", "double_opt_in": True})
        contact = rt.store.contacts.get(contact_id)
        if DEBUG:
            print(f"\n[fuzz] double opt-in of {contact_id}: {response.status} pending="
                  f"{contact.pending_consent if contact else None}")
        if response.status < 300 and contact is not None and contact.pending_consent is not None:
            pools.add("c:token", consent.confirmation_link(rt, contact).rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def world(fuzz_cloud: LocalCloud, write_log: WriteLog) -> Iterator[World]:
    pools = Pools()
    _seed(fuzz_cloud, pools)
    if DEBUG:
        print("\n[fuzz] pools:", {k: len(v) for k, v in pools.ids.items()})
    ignore = {fuzz_cloud.physical_name(lid) for lid in ("IdempotencyTable",)
              if lid in (fuzz_cloud.template.resources if fuzz_cloud.template else {})}
    yield World(fuzz_cloud, write_log, pools, _openapi_documents(fuzz_cloud), ignore)


# --------------------------------------------------------------------------------------------- strategies


def case_strategy(route: RouteSpec, world: World) -> st.SearchStrategy[Case]:
    op, components = world.operations.get((route.method, _openapi_path(route.path)), ({}, {}))
    content = ((op.get("requestBody") or {}).get("content") or {})
    body_schema = next(iter(content.values()), {}).get("schema") if content else None
    query_params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
    properties = frozenset(_properties(body_schema, components))
    pools = world.pools

    if body_schema is not None:
        valid = schema_strategy(body_schema, components).flatmap(lambda v: realistic(v, pools))
        value = st.one_of(
            *[valid.map(lambda v: ("valid", v))] * 5, *[valid.flatmap(mutated).map(lambda v: ("mutated", v))] * 2,
            hostile_json_value.map(lambda v: ("hostile", v)), generic_body(pools).map(lambda v: ("generic", v)),
        )
    elif op or route.method in ("GET", "HEAD", "DELETE"):  # documented without a body: mostly none
        value = st.one_of(st.just(("no-body", None)), st.just(("no-body", None)), st.just(("no-body", None)),
                          generic_body(pools).map(lambda v: ("generic", v)))
    else:  # no schema: generic hostile input
        value = st.one_of(generic_body(pools).map(lambda v: ("generic", v)),
                          generic_body(pools).map(lambda v: ("generic", v)),
                          hostile_json_value.map(lambda v: ("hostile", v)),
                          st.just(("no-body", None)))

    if route.key in LEAD_ROUTES:  # realistic lead traffic (lead_cases) for about 70 % of cases, generic else
        realistic_leads = lead_cases(route.key, pools, world.cloud.token, world.cloud.clock.now)
        generic = generic_cases(route, world, value, query_params, components, properties)
        # (st.one_of would merge repeated strategies; Hypothesis draws 0 about half the time: 2, 3 are about 30 %)
        return st.integers(0, 3).flatmap(lambda n: generic if n >= 2 else realistic_leads)
    return generic_cases(route, world, value, query_params, components, properties)


def generic_cases(route: RouteSpec, world: World, value: st.SearchStrategy[tuple[str, Any]],
                  query_params: list[dict[str, Any]], components: dict[str, Any],
                  properties: frozenset[str]) -> st.SearchStrategy[Case]:
    pools = world.pools

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        kind, body_value = draw(value)
        headers, auth = draw(headers_strategy(route, world.cloud.token))
        scope = route.path.strip("/").split("/")[0]
        params = {name: draw(path_value(pools, name, scope)) for name in route.params}
        if kind == "valid":
            body_value = draw(coherent(body_value, {k: v for k, (v, _) in params.items()}, properties))
        query = draw(st.one_of(st.just(""), st.just(""), query_strategy(query_params, components, pools)))
        body: bytes | None = None
        if kind != "no-body":
            if draw(st.integers(0, 9)) < 8:
                body = json.dumps(body_value, ensure_ascii=False).encode("utf-8", "surrogatepass")
                headers.setdefault("content-type", "application/json")
            else:
                body, ctype, how = draw(encoded_body(body_value))
                if ctype:
                    headers["content-type"] = ctype
                kind = f"{kind}/{how}"
        if auth != "good" and route.auth == "AWS_IAM":
            kind = f"auth-{auth}"
        elif any(raw or not re.fullmatch(r"[A-Za-z0-9._:@-]+", v) for v, raw in params.values()):
            kind = f"{kind}/odd-path"
        repeat = 2 if draw(st.integers(0, 9)) == 0 else 1
        headers.setdefault("user-agent", "crm-fuzz")
        return Case(kind, route.method if route.method != "ANY" else draw(st.sampled_from(["GET", "POST", "PUT"])),
                    encode_path(route, params), query, headers, body, repeat, draw(source_ips))

    return build()


def _openapi_path(path: str) -> str:
    return path


def _properties(schema: dict[str, Any] | None, components: dict[str, Any]) -> list[str]:
    ref = (schema or {}).get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = components.get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return list((schema or {}).get("properties", {}))


# --------------------------------------------------------------------------------------------- the tests


def test_the_fuzzed_routes_are_the_emulations_routes(world: World) -> None:
    """The routes read from the template are the ones the emulation serves (no route escapes the fuzzing)."""
    assert {r.key for r in ROUTES} == {f"{r.method} {r.path}" for r in world.cloud.routes()}


def test_every_route_with_a_body_schema_gets_schema_valid_bodies(world: World) -> None:
    """The API function's OpenAPI document is found, so its routes get bodies generated from their schemas."""
    assert ("POST", "/contacts") in world.operations
    assert "requestBody" in world.operations[("PATCH", "/contacts/{contact_id}")][0]


@pytest.mark.parametrize("route", ROUTES, ids=[r.key for r in ROUTES])
def test_fuzz_route(route: RouteSpec, world: World, fuzz_stats: FuzzStats) -> None:
    per_route = max(1, total_cases() // len(ROUTES))
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])

    @seed(FUZZ_SEED)
    @settings(max_examples=per_route, deadline=None, database=None, phases=phases, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=case_strategy(route, world))
    def fuzz(case: Case) -> None:
        world.send(route, case, fuzz_stats)

    fuzz()
    world.sweep(route, fuzz_stats)
    failures = world.failures.get(route.key, {})
    if failures:
        report = "\n\n".join(
            f"[{f.count}x] {f.problem} (HTTP {f.status})\n  input: {f.case.describe()}\n  detail: {f.detail}"
            for f in failures.values())
        pytest.fail(f"{route.key}: {len(failures)} distinct problem(s)\n\n{report}", pytrace=False)
