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
from urllib.parse import unquote, urlsplit

CREATED_AT = "2026-03-02T08:00:00+00:00"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any


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
                path = urlsplit(self.path).path  # absolute when sent through a proxy
                recorded = Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, raw, body)
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
