"""An in-memory stand-in for the campaign HTTP API (the contract the CLI is written against), on a real socket.

It records every request (method, path, headers, raw and decoded body) and accepts either the bearer token it was
given or any SigV4 ``Authorization`` header (the SigV4 test checks the signature itself). As a proxy target it also
accepts absolute request lines (``GET http://<id>.execute-api.../campaigns``), which is how an ``execute-api`` URL is
routed here.

A launched campaign moves forward on every ``GET /campaigns/{id}``: after ``steps`` polls it is completed with its
``final`` progress.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

CREATED_AT = "2026-03-02T08:00:00+00:00"


def _fixture_reports() -> dict[str, Any]:
    from tests.cli import report_data

    return {"loss-reasons": {by: report_data.loss_reasons(by) for by in ("industry", "owner", "product", "none")},
            "retention": report_data.RETENTION, "workflows": report_data.WORKFLOWS,
            "campaigns": report_data.CAMPAIGNS}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApi:
    token: str = "test-token"
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)
    previews: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    suppressed: dict[str, str] = field(default_factory=dict)
    # (method, path) -> answers to give before the real one, e.g. [(503, {"message": "retry"})]
    failures: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)
    steps: int = 3
    polls: dict[str, int] = field(default_factory=dict)
    # POST /imports/contacts: contacts by lower-case e-mail, captures seen (source, line, row), rows per answer
    imported: dict[str, str] = field(default_factory=dict)
    captures: set[tuple[str, int, str]] = field(default_factory=set)
    import_rows_per_answer: int | None = None
    # GET /reports/<name>: the data of tests.cli.report_data (loss-reasons by ``by``), replaceable per test
    reports: dict[str, Any] = field(default_factory=lambda: _fixture_reports())
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                split = urlsplit(self.path)  # absolute when sent through a proxy
                path = split.path
                recorded = Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, raw, body,
                                    dict(parse_qsl(split.query)))
                api.requests.append(recorded)  # list.append is atomic: no lock needed across handler threads
                status, answer = api.answer(recorded)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- data -----------------------------------------------------------------------------------------------

    def seed(self, campaign_id: str = "cmp-1", **overrides: Any) -> dict[str, Any]:
        progress = {"audience": 0, "queued": 0, "sent": 0, "suppressed": 0, "failed": 0, "waiting": 0,
                    "suppressed_by_reason": {}}
        progress |= overrides.pop("progress", {})
        campaign = {
            "campaign_id": campaign_id, "name": "Jarní akce", "template": "spring_offer", "locale": "cs",
            "segment": {}, "segment_query": "tag = VIP", "sender": None, "send_at": None, "status": "draft",
            "created_at": CREATED_AT, "launched_at": None, "completed_at": None, "progress": progress,
        } | overrides
        self.campaigns[campaign_id] = campaign
        return campaign

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path)]

    # --- routes ---------------------------------------------------------------------------------------------

    def answer(self, req: Recorded) -> tuple[int, Any]:
        auth = req.headers.get("authorization")
        if not auth:
            return 401, {"message": "Unauthorized"}
        if not auth.startswith("AWS4-HMAC-SHA256 ") and auth != f"Bearer {self.token}":
            return 403, {"message": "Forbidden"}
        queued = self.failures.get((req.method, req.path))
        if queued:
            return queued.pop(0)
        if req.path == "/campaigns":
            return self._list() if req.method == "GET" else self._create(req.body)
        if req.path == "/suppressions" and req.method == "POST":
            return self._suppress(req.body)
        if req.path == "/imports/contacts" and req.method == "POST":
            return self._import_contacts(req)
        if req.path.startswith("/reports/") and req.method == "GET":
            return self._report(req.path.removeprefix("/reports/"), req.query)
        match = re.fullmatch(r"/campaigns/([^/]+)(?:/(preview|launch|pause|resume))?", req.path)
        if not match:
            return 404, {"message": "Not Found"}
        campaign_id, action = unquote(match.group(1)), match.group(2)
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return 404, {"message": f"campaign {campaign_id} not found"}
        if action is None and req.method == "GET":
            self._advance(campaign)
            return 200, campaign
        if req.method != "POST":
            return 405, {"message": "Method Not Allowed"}
        return getattr(self, f"_{action}")(campaign, req.body)

    def _report(self, name: str, query: dict[str, str]) -> tuple[int, Any]:
        """The contract's checks of ``from``/``to``/``by`` (400 with a message), then the stored answer."""
        if name not in self.reports:
            return 404, {"message": "Not Found"}
        for key in ("from", "to"):
            if key in query and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", query[key]):
                return 400, {"message": f"{key} must be a month YYYY-MM, got {query[key]!r}"}
        if query.get("from", "") > query.get("to", "9999-12"):
            return 400, {"message": f"from {query['from']} is after to {query['to']}"}
        answer = self.reports[name]
        if name == "loss-reasons":
            by = query.get("by", "industry")
            if by not in answer:
                return 400, {"message": f"by must be one of industry, owner, product, month, none; got {by!r}"}
            answer = answer[by]
        return 200, answer

    def _list(self) -> tuple[int, Any]:
        return 200, {"campaigns": list(self.campaigns.values())}

    def _create(self, body: Any) -> tuple[int, Any]:
        missing = [k for k in ("name", "template") if not (isinstance(body, dict) and body.get(k))]
        if missing:
            return 422, {"message": "invalid request",
                         "detail": [{"loc": ["body", k], "msg": "Field required", "type": "missing"} for k in missing]}
        campaign = self.seed(
            f"cmp-{len(self.campaigns) + 1}", name=body["name"], template=body["template"],
            locale=body.get("locale", "cs"), segment=body.get("segment", {}),
            segment_query=body.get("segment_query", ""), sender=body.get("sender"), send_at=body.get("send_at"),
        )
        return 201, campaign

    def _preview(self, campaign: dict[str, Any], body: Any) -> tuple[int, Any]:
        preview = dict(self.previews.get(campaign["campaign_id"]) or {
            "audience": 0, "eligible": 0, "excluded": {}, "samples": []})
        preview["campaign_id"] = campaign["campaign_id"]
        preview["samples"] = preview.get("samples", [])[: int(body["samples"])]
        return 200, preview

    def _launch(self, campaign: dict[str, Any], body: Any) -> tuple[int, Any]:
        if campaign["status"] != "draft":
            return 409, {"message": f"campaign {campaign['campaign_id']} is {campaign['status']}, not a draft"}
        final = self.finals.get(campaign["campaign_id"], {})
        audience = final.get("audience", 0)
        campaign["status"] = "running"
        campaign["launched_at"] = "2026-03-02T09:00:00+00:00"
        campaign["progress"] |= {"audience": audience, "queued": audience}
        self.polls[campaign["campaign_id"]] = 0
        return 202, campaign

    def _advance(self, campaign: dict[str, Any]) -> None:
        if campaign["status"] != "running":
            return
        campaign_id = campaign["campaign_id"]
        self.polls[campaign_id] = done = self.polls.get(campaign_id, 0) + 1
        final = self.finals.get(campaign_id, {})
        share = min(1.0, done / self.steps)
        progress = campaign["progress"]
        for key in ("sent", "suppressed", "failed"):
            progress[key] = int(final.get(key, 0) * share)
        settled = progress["sent"] + progress["suppressed"] + progress["failed"]
        progress["queued"] = max(0, final.get("audience", 0) - settled - 1)
        progress["waiting"] = 1 if share < 1 else 0
        if share >= 1:
            progress["queued"] = 0
            progress["suppressed_by_reason"] = dict(final.get("suppressed_by_reason", {}))
            campaign["status"] = "completed"
            campaign["completed_at"] = "2026-03-02T09:30:00+00:00"

    def _pause(self, campaign: dict[str, Any], body: Any) -> tuple[int, Any]:
        if campaign["status"] not in ("running", "scheduled"):
            return 409, {"message": f"campaign {campaign['campaign_id']} is {campaign['status']}"}
        campaign["status"] = "paused"
        return 200, campaign

    def _resume(self, campaign: dict[str, Any], body: Any) -> tuple[int, Any]:
        if campaign["status"] != "paused":
            return 409, {"message": f"campaign {campaign['campaign_id']} is {campaign['status']}, not paused"}
        campaign["status"] = "running"
        return 200, campaign

    def _suppress(self, body: Any) -> tuple[int, Any]:
        added = already = 0
        invalid = []
        for index, entry in enumerate(body["entries"]):
            email = entry["email"].strip().lower()
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                invalid.append({"index": index, "error": "not an e-mail address"})
            elif email in self.suppressed:
                already += 1
            else:
                self.suppressed[email] = entry["reason"]
                added += 1
        return 200, {"added": added, "already": already, "invalid": invalid}

    def _import_contacts(self, req: Recorded) -> tuple[int, Any]:
        """The import contract in miniature: the real parser, suppressions from ``self.suppressed``, contacts by
        lower-case e-mail, replays by (source, line, row text); ``import_rows_per_answer`` stops early."""
        from datetime import UTC, datetime
        from zoneinfo import ZoneInfo

        from crm_automation.domain.contact_import import CsvProblem, RowProblem, decode, interpret, parse

        query = req.query
        if not req.headers.get("content-type", "").startswith("text/csv") or not query.get("source"):
            return 400, {"message": "text/csv body and source= required"}
        try:
            parsed = parse(decode(req.raw_body), first_line=int(query.get("first_line", "2")))
        except CsvProblem as problem:
            return (413 if problem.too_large else 400), {"message": str(problem)}
        dry = query.get("dry_run") == "true"
        counts = {o: 0 for o in ("created", "updated", "unchanged", "skipped_suppressed", "skipped_no_consent",
                                 "invalid")}
        entries: list[dict[str, Any]] = []
        lines: dict[str, list[int]] = {"created": [], "updated": []}
        ids: dict[str, list[str]] = {"created": [], "updated": []}
        next_line = None
        for n, row in enumerate(parsed.rows):
            if self.import_rows_per_answer is not None and n >= self.import_rows_per_answer:
                next_line = row.line
                break
            values = interpret(parsed, row, now=datetime(2026, 3, 2, tzinfo=UTC), zone=ZoneInfo("Europe/Prague"))
            if isinstance(values, RowProblem) or "." not in values.email.partition("@")[2]:
                column = values.column if isinstance(values, RowProblem) else "email"
                reason = values.message if isinstance(values, RowProblem) else "not an e-mail address"
                counts["invalid"] += 1
                entries.append({"line": row.line, "outcome": "invalid", "reason": reason, "column": column})
                continue
            email = values.email.lower()
            if email in self.suppressed:
                counts["skipped_suppressed"] += 1
                entries.append({"line": row.line, "outcome": "skipped_suppressed", "suppression":
                                self.suppressed[email], "reason": "suppressed"})
                continue
            if values.consent is None and query.get("require_consent", "true") == "true":
                counts["skipped_no_consent"] += 1
                entries.append({"line": row.line, "outcome": "skipped_no_consent", "reason": "no consent"})
                continue
            capture = (query["source"], row.line, "|".join(row.cells))
            if capture in self.captures:
                counts["unchanged"] += 1
                entries.append({"line": row.line, "outcome": "unchanged", "reason": "imported before"})
                continue
            outcome = "updated" if email in self.imported else "created"
            contact_id = self.imported.get(email) or f"c-{len(self.imported) + 1}"
            if not dry:
                self.imported[email] = contact_id
                self.captures.add(capture)
                ids[outcome].append(contact_id)
            counts[outcome] += 1
            lines[outcome].append(row.line)
        return 200, {"source": query["source"], "dry_run": dry, "rows": len(parsed.rows),
                     "processed": sum(counts.values()), "complete": next_line is None, "next_line": next_line,
                     "counts": counts, "entries": entries, "lines": lines, "contact_ids": ids,
                     "contact_ids_truncated": False}
