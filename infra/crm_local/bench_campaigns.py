"""Campaign benchmarks, part of `make bench` (only these: `python -m crm_local.bench campaigns`).

**1. Send-path CPU per recipient, relative to a bare SESv2 send loop (goal <= 1.3).** The template runs on the local
emulation (SendWindow "always", SesMaxSendRate so high that the limiter never waits, PublicBaseUrl
https://crm.example.cz). N eligible contacts (default 2,000) are written straight to DynamoDB (their stream records
are skipped: the consumers start after the import), a campaign is created and launched through the services, and
the real planner (`plan_segment`) cuts the audience into chunks. Then, chunk by chunk, the real
`campaign_sender.send_chunk` runs with the sender function's own settings (built from its environment in the
template) and default boto3 clients, exactly as in the Lambda, and `time.thread_time()` of the calling thread is
summed around it: lease, batch reads, decisions, token takes, reservation transactions, rendering, the signed
List-Unsubscribe, the SES calls (Simple content with our headers: SES builds the MIME) and the record transactions
are all inside. The moto server answers in
other threads of this process, so its CPU is not counted. Right after each chunk, the baseline sends the same
recipients with a bare loop of boto3 `sesv2.send_email` (Simple content: subject, text and HTML bodies of the same
text from f-strings) to the same moto server, timed the same way; interleaving the two keeps a busy machine from
favouring either. Both clients are created and warmed up (one call each) before timing. A second table splits
our CPU into the SES call, `compose`, building the request, the DynamoDB calls and the rest (thread CPU inside those
calls; two `thread_time()` per wrapped call, nothing is left out). A cross-check at the end runs the real
`CampaignsRepo.take_tokens` against the emulation and against the in-memory limiter of part 2.

**2. A 1,000,000-recipient campaign on a virtual clock (goal: duration <= 1.05 x N / send rate, and never more
sends in one second than the rate).** A discrete-event simulation, no AWS, a few seconds per scenario:

* What is real code: the limiter and the pacer. Each sender asks for tokens as the real `SendPacer` (one per
  sender, as in `_Work`) decides: only as many as it can use before the current second ends, by its measured send
  time, and never sends on a token after its second. Every token take runs the real `CampaignsRepo.take_tokens` against an in-memory
  table that evaluates the conditional ADD it sends (the request is checked, so a change to the adapter stops the
  bench instead of silently diverging); each call it makes costs one UpdateItem latency. The constants come from
  `Settings` (campaign_chunk_size, send_batch_size, campaign_scan_segments, ses_max_send_rate) and template.yaml
  (SenderConcurrency default, the sender's Timeout, the functions' MemorySize).
* What is modelled, step by step as `send_chunk` and `_Work` do it: SenderConcurrency workers take chunk messages
  from one queue (one chunk per invocation; 10-40 ms from queue to handler); the planner's 4 segments write a chunk
  every 40-80 ms each, so senders never wait for it after the first pages. Per chunk: GetItem campaign and chunk
  (3-8 ms each), the lease transaction (8-15 ms), two BatchGetItems (8-15 ms each). Per batch of <=
  send_batch_size: the campaign re-read (GetItem), the time-left check (Timeout - 20 s: record, re-queue, end),
  the reservation transaction (15-30 ms), then per recipient a token (as `_Work.token`: the pacer's ask, the
  limiter's grant, 0 granted: sleep to the next second), and the sends one after another (SES SendEmail
  40-80 ms, uniform, mean 60 ms; each preceded by the measured per-recipient CPU of part 1 scaled to the
  function's CPU share, MemorySize / 1769 MB of a vCPU), and the record transaction (8-15 ms). A finished chunk:
  the done record (8-15 ms) and complete_if_finished (4-10 ms). A send counts in the second its request reaches
  SES (20 ms after the call starts). The send window is always open; SES never throttles.
* Printed: simulated duration (launch to the last chunk recorded done), ideal N / rate, their ratio, the most
  tokens the limiter granted for one second, and the most sends SES received in one calendar second.
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
import warnings
from collections import Counter, deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from crm_automation.adapters.marketing import CampaignsRepo
from crm_automation.domain.campaigns import CampaignStatus, ChunkState, SendPacer
from crm_automation.domain.models import Consent, Contact, Lifecycle
from crm_automation.observability import logger, metrics
from crm_automation.services import campaign_sender
from crm_automation.services import campaigns as campaign_service
from crm_automation.services.runtime import Runtime
from crm_automation.settings import Settings
from crm_local import LocalCloud
from crm_local.runtime import EnvironmentGuard
from crm_local.template import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Prague
PUBLIC_URL = "https://crm.example.cz"
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
CPU_GOAL, DURATION_GOAL = 1.3, 1.05

_FIRST = [("Jana", "Nováková"), ("Petr", "Svoboda"), ("Eva", "Dvořáková"), ("Tomáš", "Černý"), ("Lucie", "Veselá"),
          ("Martin", "Procházka"), ("Kateřina", "Horáková"), ("Jiří", "Kučera"), ("Tereza", "Němcová"),
          ("Pavel", "Marek")]


# ---------------------------------------------------------------------------------------------- 1. send-path CPU


def _sender_settings(cloud: LocalCloud) -> Settings:
    """The settings the campaign sender function gets: its environment from the template, read as the Lambda does."""
    guard = EnvironmentGuard()
    guard.set(cloud.runtimes["CampaignSenderFunction"].environment)
    try:
        return Settings()
    finally:
        guard.restore()


def _contacts(n: int) -> Iterator[Contact]:
    for i in range(n):
        first, last = _FIRST[i % len(_FIRST)]
        yield Contact(contact_id=f"c-{i:07d}", first_name=first, last_name=last, email=f"klient{i}@example.cz",
                      company=f"Firma {i} s.r.o.", owner="petr.svoboda", lifecycle=Lifecycle.FORMER_CUSTOMER,
                      marketing_consent=Consent(granted=True, at=START - timedelta(days=400), source="web-form"),
                      last_activity_at=START - timedelta(days=300), created_at=START - timedelta(days=900),
                      updated_at=START - timedelta(days=300))


def _load(rt: Runtime, contacts: list[Contact]) -> None:
    client, serializer, table = boto3.client("dynamodb"), TypeSerializer(), rt.settings.contacts_table
    requests = [{"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in rt.store.contacts.to_item(c).items()}}}
                for c in contacts]
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start:start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _bare_send(ses: Any, contact: Contact) -> None:
    """What a bare script would do: one SESv2 SendEmail with Simple content, bodies from f-strings."""
    greeting = f"Dobrý den, {contact.first_name} {contact.last_name},"
    link = f"{PUBLIC_URL}/u/{contact.contact_id}"
    text = (f"{greeting}\n\nkdyž jste od nás odcházeli ({contact.company}), chyběla vám funkce A. Teď ji máme – a "
            "postavili jsme ji podle toho, co nám zákazníci jako vy řekli.\n\nCo umí:\n- přehled, který jste po nás "
            "chtěli, na jednom místě,\n- napojení na vaše stávající nástroje,\n- nastavení během jednoho odpoledne, "
            "s naší pomocí.\n\nRádi vám ji ukážeme na krátkém online setkání. Stačí odpovědět na tento e-mail a "
            "navrhnout termín.\n\nS pozdravem\nObchodní tým\n\n--\nTento e-mail jste dostali, protože jste byli "
            f"naším zákazníkem. Další nabídky už dostávat nechcete?\nOdhlásit odběr: {link}\n")
    html = (f"<!DOCTYPE html>\n<html lang=\"cs\">\n<head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: "
            f"Arial, Helvetica, sans-serif; font-size: 15px; line-height: 1.5; color: #222;\">\n<p>{greeting}</p>\n"
            f"<p>když jste od nás odcházeli ({contact.company}), chyběla vám <strong>funkce A</strong>. Teď ji máme – "
            "a postavili jsme ji podle toho, co nám zákazníci jako vy řekli.</p>\n<ul>\n<li>přehled, který jste po "
            "nás chtěli, na jednom místě,</li>\n<li>napojení na vaše stávající nástroje,</li>\n<li>nastavení během "
            "jednoho odpoledne, s naší pomocí.</li>\n</ul>\n<p>Rádi vám ji ukážeme na krátkém online setkání. Stačí "
            "odpovědět na tento e-mail a navrhnout termín.</p>\n<p>S pozdravem<br>Obchodní tým</p>\n<hr>\n<p style="
            "\"font-size: 12px; color: #777;\">Tento e-mail jste dostali, protože jste byli naším zákazníkem. Další "
            f"nabídky už dostávat nechcete? <a href=\"{link}\">Odhlásit odběr</a></p>\n</body>\n</html>\n")
    ses.send_email(FromEmailAddress="Obchodní tým <obchod@example.cz>",
                   Destination={"ToAddresses": [f"{contact.first_name} {contact.last_name} <{contact.email}>"]},
                   Content={"Simple": {"Subject": {"Data": "Funkce A, která vám u nás chyběla, je tady",
                                                   "Charset": "UTF-8"},
                                       "Body": {"Text": {"Data": text, "Charset": "UTF-8"},
                                                "Html": {"Data": html, "Charset": "UTF-8"}}}})


def bench_send_cpu(recipients: int, console: Console) -> dict[str, Any]:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    level = logger.log_level
    logger.setLevel("WARNING")  # the services' INFO lines ("Campaign launched" ...) are not the benchmark's output
    try:
        with LocalCloud(template=str(TEMPLATE), start=START, quiet=True,
                        parameters={"SendWindow": "always", "SesMaxSendRate": 10_000_000,
                                    "PublicBaseUrl": PUBLIC_URL}) as cloud:
            return _run_send_cpu(cloud, recipients, console)
    finally:
        logger.setLevel(level)
        metrics.clear_metrics()


def _run_send_cpu(cloud: LocalCloud, recipients: int, console: Console) -> dict[str, Any]:
    settings = _sender_settings(cloud)
    if settings.send_window != "always" or settings.public_base_url != PUBLIC_URL:
        raise SystemExit(f"the sender's settings did not come from the template parameters: {settings!r}")
    rt = Runtime(settings)  # default clients, as the Lambda builds them (the emulation sets AWS_ENDPOINT_URL)
    contacts = list(_contacts(recipients + 1))
    warm_up, contacts = contacts[-1], contacts[:-1]
    _load(rt, contacts)
    cloud.skip_stream_backlog()  # the import is not what is measured
    by_id = {c.contact_id: c for c in contacts}
    now = cloud.clock.now()
    campaign = campaign_service.create(rt, campaign_service.CampaignIn(
        name="Funkce A: win-back", template="winback_feature_a", segment_query="lifecycle = former_customer"),
        now, "bench")
    campaign_service.launch(rt, campaign.campaign_id, now)
    segments = settings.campaign_scan_segments
    for segment in range(segments):
        campaign_service.plan_segment(rt, campaign.campaign_id, segment, segments, now, lambda: 900.0)
    chunks = list(rt.store.campaigns.chunks(campaign.campaign_id, {ChunkState.QUEUED}))
    console.print(f"loaded {recipients:,} eligible contacts, planned {len(chunks)} chunks "
                  f"(chunk size {settings.campaign_chunk_size}, send batches of {settings.send_batch_size})")

    # cold start (clients, keys, templates) on both sides, outside the timing
    ses = boto3.client("sesv2")
    _bare_send(ses, warm_up)
    rt.mailer.send_simple(campaign_service.compose(rt, campaign, warm_up, "0" * 64, now))
    _ = rt.store, rt.send_queue, rt.keys

    parts = _CpuParts(rt)
    ours = bare = 0.0
    sent = bare_sent = 0
    wall = time.perf_counter()
    for chunk in chunks:
        started = time.thread_time()
        report = campaign_sender.send_chunk(rt, campaign.campaign_id, chunk.chunk_id, cloud.clock.now())
        ours += time.thread_time() - started
        if report.outcome != "done" or report.failed or report.skipped:
            raise SystemExit(f"chunk {chunk.chunk_id}: {report}")
        sent += report.sent
        started = time.thread_time()
        for cid in chunk.contact_ids:
            _bare_send(ses, by_id[cid])
        bare += time.thread_time() - started
        bare_sent += len(chunk.contact_ids)
    parts.remove()
    wall = time.perf_counter() - wall
    final = rt.store.campaigns.get(campaign.campaign_id)
    if final is None or final.status != CampaignStatus.COMPLETED or final.progress.sent != recipients \
            or sent != recipients or bare_sent != recipients:
        raise SystemExit(f"the campaign did not send {recipients} e-mails: {final and final.progress}")
    limiter = _limiter_cross_check(rt)
    return {"recipients": recipients, "chunks": len(chunks), "ours": ours / sent, "bare": bare / bare_sent,
            "ratio": (ours / sent) / (bare / bare_sent), "wall": wall, "limiter_checked": limiter,
            "parts": {name: seconds / sent for name, seconds in parts.split(ours).items()}}


class _CpuParts:
    """Where the send path's CPU goes: thread CPU inside the SES client's and the DynamoDB client's API calls
    (request building, signing, HTTP, parsing, boto3's type (de)serialisation) and inside `compose`; two
    `thread_time()` calls per wrapped call, nothing taken out of the measurement."""

    def __init__(self, rt: Runtime) -> None:
        self.seconds: Counter[str] = Counter()
        self._undo: list[Any] = []
        self._wrap(rt.mailer, "send_simple", "mailer")
        self._wrap(rt.mailer._client, "_make_api_call", "ses")  # noqa: SLF001 - the Lambda's own client
        self._wrap(rt.store.client, "_make_api_call", "dynamodb")
        self._wrap(campaign_service, "compose", "compose")

    def _wrap(self, owner: Any, name: str, part: str) -> None:
        original = getattr(owner, name)
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[part] += time.thread_time() - started

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def remove(self) -> None:
        for owner, name, original in reversed(self._undo):
            if isinstance(owner, type(campaign_service)):
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # the instance attribute hid the client's method

    def split(self, total: float) -> dict[str, float]:
        s = self.seconds
        return {"SES SendEmail call": s["ses"], "compose (render, sign)": s["compose"],
                "request (Simple content, tags)": s["mailer"] - s["ses"], "DynamoDB calls": s["dynamodb"],
                "rest (decisions, models, bookkeeping)": total - s["mailer"] - s["compose"] - s["dynamodb"]}


def _limiter_cross_check(rt: Runtime) -> int:
    """The in-memory limiter of the simulation grants what the adapter gets from the emulated DynamoDB."""
    model = CampaignsRepo(_RateTable().store(), "rate")
    cases = [(14, [25, 5, 3]), (14, [10, 10, 10, 1]), (14, [14, 1]), (100, [25, 25, 25, 25, 25, 1]), (3, [1, 1, 1, 1])]
    second = int(rt.clock.now().timestamp()) + 10_000
    checked = 0
    for limit, wants in cases:
        second += 1
        for want in wants:
            real = rt.store.campaigns.take_tokens(second, want, limit)
            modelled = model.take_tokens(second, want, limit)
            if real != modelled:
                raise SystemExit(f"limiter model differs from the emulation: second {second}, want {want}, limit "
                                 f"{limit}: DynamoDB granted {real}, the model {modelled}")
            checked += 1
    return checked


# ---------------------------------------------------------------------------------------------- 2. simulation


class _RateTable:
    """The limiter's rows (pk RATE, sk <epoch second>) in memory: evaluates exactly the conditional ADD that
    `CampaignsRepo.take_tokens` sends, so the adapter's own code decides every grant."""

    UPDATE = "ADD n :k SET expires_at = :ttl"
    CONDITION = "attribute_not_exists(n) OR n <= :room"

    def __init__(self) -> None:
        self.used: dict[str, int] = {}
        self.calls = 0

    def store(self) -> Any:
        return SimpleNamespace(client=self, get=lambda table, key: {"n": self.used[key["sk"]]}
                               if key["sk"] in self.used else None)

    def update_item(self, *, TableName: str, Key: dict[str, str], UpdateExpression: str,  # noqa: N803 - boto3 names
                    ConditionExpression: str, ExpressionAttributeValues: dict[str, int],
                    ReturnValuesOnConditionCheckFailure: str) -> dict[str, Any]:
        if (UpdateExpression, ConditionExpression, Key.get("pk")) != (self.UPDATE, self.CONDITION, "RATE"):
            raise SystemExit("CampaignsRepo.take_tokens sends a different request now: update the model in "
                             f"{__name__} ({UpdateExpression!r}, {ConditionExpression!r})")
        self.calls += 1
        used = self.used.get(Key["sk"])
        if used is None or used <= ExpressionAttributeValues[":room"]:
            self.used[Key["sk"]] = (used or 0) + ExpressionAttributeValues[":k"]
            return {}
        item = {"n": {"N": str(used)}} if ReturnValuesOnConditionCheckFailure == "ALL_OLD" else None
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "condition failed"},
                           **({"Item": item} if item else {})}, "UpdateItem")


def template_constants() -> dict[str, int]:
    data = parse_yaml(TEMPLATE.read_text())
    sender = data["Resources"]["CampaignSenderFunction"]["Properties"]
    function_globals = data.get("Globals", {}).get("Function", {})
    return {"concurrency": int(data["Parameters"]["SenderConcurrency"]["Default"]),
            "rate": int(data["Parameters"]["SesMaxSendRate"]["Default"]),
            "timeout": int(sender.get("Timeout", function_globals.get("Timeout", 3))),
            "memory": int(sender.get("MemorySize", function_globals.get("MemorySize", 128)))}


@dataclass(frozen=True)
class Latency:
    """Seconds: (low, high) of a uniform draw."""

    get: tuple[float, float] = (0.003, 0.008)
    batch_get: tuple[float, float] = (0.008, 0.015)
    update: tuple[float, float] = (0.004, 0.010)
    small_transaction: tuple[float, float] = (0.008, 0.015)
    reservation: tuple[float, float] = (0.015, 0.030)
    ses: tuple[float, float] = (0.040, 0.080)
    sqs: tuple[float, float] = (0.005, 0.015)
    pickup: tuple[float, float] = (0.010, 0.040)
    planner_page: tuple[float, float] = (0.040, 0.080)


SES_TRANSIT = 0.02  # seconds from the start of a send call until SES has the request


def simulate(recipients: int, rate: float, workers: int, *, settings: Settings, cpu_per_recipient: float,
             memory_mb: int, timeout: int, seed: int = 1, latency: Latency = Latency()) -> dict[str, Any]:
    """One campaign of `recipients` on a virtual clock; see the module docstring for the model."""
    rng = random.Random(seed)
    draw = rng.uniform
    chunk_size, batch_size, segments = settings.campaign_chunk_size, settings.send_batch_size, \
        settings.campaign_scan_segments
    limit = max(1, int(rate))  # as _Work.tokens
    cpu = cpu_per_recipient * max(1.0, FULL_VCPU_MB / memory_mb)
    table = _RateTable()
    limiter = CampaignsRepo(table.store(), "rate")

    # the planner: each segment writes one chunk per page, one page after the other
    arrivals: list[tuple[float, int]] = []
    per_segment = -(-recipients // chunk_size) // segments + 1
    left = recipients
    clocks = [draw(*latency.pickup) for _ in range(segments)]
    for _ in range(per_segment):
        for segment in range(segments):
            if left <= 0:
                break
            clocks[segment] += draw(*latency.planner_page)
            size = min(chunk_size, left)
            left -= size
            arrivals.append((clocks[segment] + draw(*latency.sqs), size))
    arrivals.sort()
    waiting: deque[int] = deque()  # chunk messages visible in the queue (their unsent recipients)
    next_arrival = 0
    now = 0.0
    sends: Counter[int] = Counter()
    chunks_done, total_chunks = 0, len(arrivals)
    finished_at = 0.0

    def worker() -> Generator[float, None, None]:
        nonlocal next_arrival, chunks_done, finished_at
        pacer = SendPacer(limit=limit)  # one per sender, as in _Work
        while True:
            while next_arrival < len(arrivals) and arrivals[next_arrival][0] <= now:
                waiting.append(arrivals[next_arrival][1])
                next_arrival += 1
            if not waiting:
                if next_arrival >= len(arrivals):
                    return  # nothing left to take (continuations are queued before the worker ends)
                yield max(arrivals[next_arrival][0] - now, 0.0) + 1e-6
                continue
            remaining = waiting.popleft()
            yield draw(*latency.pickup)
            started = now
            yield draw(*latency.get) + draw(*latency.get) + draw(*latency.small_transaction)  # campaign, chunk, lease
            yield draw(*latency.batch_get) + draw(*latency.batch_get)  # contacts, address records
            while remaining:
                yield draw(*latency.get)  # the campaign again: paused meanwhile?
                if now - started > timeout - 20:  # hand the rest to a new invocation
                    yield draw(*latency.small_transaction) + draw(*latency.sqs)
                    waiting.append(remaining)
                    break
                batch = min(batch_size, remaining)
                yield draw(*latency.reservation)
                for n in range(batch):
                    while True:  # _Work.token: the real SendPacer decides what to ask the real limiter for
                        ask = pacer.ask(now, remaining - n)
                        if ask is None:
                            break
                        second, want = ask
                        if second > now:
                            yield second - now
                            continue
                        calls = table.calls
                        granted = limiter.take_tokens(second, want, limit)
                        yield sum(draw(*latency.update) for _ in range(table.calls - calls))
                        if granted:
                            pacer.granted(second, granted)
                            break
                        yield max(0.001, second + 1 - now)
                    yield cpu
                    took = draw(*latency.ses)
                    sends[int(now + SES_TRANSIT)] += 1  # when the request reaches SES
                    yield took
                    pacer.sent(cpu + took)
                granted = batch
                yield draw(*latency.small_transaction)  # record the batch
                remaining -= granted
            else:
                yield draw(*latency.small_transaction) + draw(*latency.update)  # done; complete_if_finished
                chunks_done += 1
                finished_at = max(finished_at, now)

    events: list[tuple[float, int, Generator[float, None, None]]] = []
    for n in range(workers):
        heapq.heappush(events, (0.0, n, worker()))
    sequence = workers
    while events:
        now, _, process = heapq.heappop(events)
        try:
            delay = next(process)
        except StopIteration:
            continue
        sequence += 1
        heapq.heappush(events, (now + delay, sequence, process))
    if chunks_done != total_chunks or sum(sends.values()) != recipients:
        raise SystemExit(f"simulation lost work: {chunks_done}/{total_chunks} chunks, {sum(sends.values())} sends")
    ideal = recipients / rate
    return {"recipients": recipients, "rate": rate, "workers": workers, "duration": finished_at, "ideal": ideal,
            "ratio": finished_at / ideal, "max_tokens": max(table.used.values()), "max_sends": max(sends.values()),
            "cpu_wall": cpu}


# ---------------------------------------------------------------------------------------------- the run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("campaigns")
    group.add_argument("--campaign-recipients", type=int, default=2000,
                       help="recipients of the send-path CPU benchmark on the emulation (0: only the simulation)")
    group.add_argument("--simulated-recipients", type=int, default=1_000_000)
    group.add_argument("--lambda-cpu-ms", type=float, default=None,
                       help="CPU per recipient (ms on a full vCPU) for the simulation; default: measured in part 1 "
                            "(4 ms without it)")


def _scenarios(defaults: dict[str, int]) -> list[tuple[float, int]]:
    rate, concurrency = defaults["rate"], defaults["concurrency"]
    return [(rate, concurrency), (rate, 10), (100, 20), (500, 100)]


def run(args: argparse.Namespace, console: Console) -> None:
    missed: list[str] = []
    cpu_ms = args.lambda_cpu_ms
    if args.campaign_recipients > 0:
        c = bench_send_cpu(args.campaign_recipients, console)
        table = Table(title="Campaign send path: CPU per recipient of the calling thread, relative to a bare SESv2 "
                            "send loop (one run, interleaved chunk by chunk)")
        for column in ("recipients", "chunks", "send_chunk CPU / recipient", "bare send_email CPU / recipient",
                       f"ratio (goal <= {CPU_GOAL})", "wall time of both"):
            table.add_column(column, justify="right")
        table.add_row(f"{c['recipients']:,}", f"{c['chunks']}", f"{c['ours'] * 1e3:.2f} ms", f"{c['bare'] * 1e3:.2f} ms",
                      f"{c['ratio']:.2f}", f"{c['wall']:.0f} s")
        console.print(table)
        split = Table(title="Where the send path's CPU goes (ms per recipient; the bare loop's is all one SES call)")
        for name in c["parts"]:
            split.add_column(name, justify="right")
        split.add_column("bare send_email", justify="right")
        split.add_row(*(f"{v * 1e3:.2f}" for v in c["parts"].values()), f"{c['bare'] * 1e3:.2f}")
        console.print(split)
        console.print("Ours: lease, batch reads, decisions, token takes, reservation and record transactions, "
                      "rendering with a signed List-Unsubscribe, SES SendEmail (Simple content with our headers and "
                      "tags). Bare: SendEmail (Simple) with f-string bodies. The moto server's CPU (other threads) is in neither. The simulation's "
                      f"limiter model was checked against the emulated DynamoDB on {c['limiter_checked']} takes.")
        if c["ratio"] > CPU_GOAL:
            missed.append(f"send-path CPU ratio {c['ratio']:.2f} > {CPU_GOAL}")
        if cpu_ms is None:
            cpu_ms = c["ours"] * 1e3
    if cpu_ms is None:
        cpu_ms = 4.0
    defaults = template_constants()
    settings = Settings()
    table = Table(title=f"A {args.simulated_recipients:,}-recipient campaign on a virtual clock: duration relative "
                        "to N / send rate (simulation, real limiter code)")
    for column in ("send rate", "senders", "simulated duration", "ideal N / rate", f"ratio (goal <= {DURATION_GOAL})",
                   "max tokens granted in 1 s", "max sends to SES in 1 s", "simulation took"):
        table.add_column(column, justify="right")
    for rate, workers in _scenarios(defaults):
        started = time.perf_counter()
        s = simulate(args.simulated_recipients, rate, workers, settings=settings, cpu_per_recipient=cpu_ms / 1e3,
                     memory_mb=defaults["memory"], timeout=defaults["timeout"])
        table.add_row(f"{rate:g}/s", f"{workers}", _duration(s["duration"]), _duration(s["ideal"]),
                      f"{s['ratio']:.3f}", f"{s['max_tokens']}", f"{s['max_sends']}",
                      f"{time.perf_counter() - started:.1f} s")
        if s["ratio"] > DURATION_GOAL:
            missed.append(f"{rate:g}/s with {workers} senders: duration ratio {s['ratio']:.3f} > {DURATION_GOAL}")
        if max(s["max_tokens"], s["max_sends"]) > rate:
            missed.append(f"{rate:g}/s with {workers} senders: {s['max_tokens']} tokens / {s['max_sends']} sends "
                          "in one second exceed the rate")
    console.print(table)
    console.print(f"Chunks of {settings.campaign_chunk_size}, batches of <= {settings.send_batch_size}, "
                  f"{settings.campaign_scan_segments} planner segments, sender Timeout {defaults['timeout']} s, "
                  f"MemorySize {defaults['memory']} MB: {cpu_ms:.2f} ms CPU per recipient (on a full vCPU) takes "
                  f"{cpu_ms * max(1.0, FULL_VCPU_MB / defaults['memory']):.1f} ms in the function. SES 40-80 ms per "
                  "send, DynamoDB 3-30 ms per call (see the module docstring). Template defaults: rate "
                  f"{defaults['rate']}/s, SenderConcurrency {defaults['concurrency']}.")
    if missed:
        raise SystemExit("campaign goals missed: " + "; ".join(missed))


def _duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)} h {rest / 60:04.1f} min" if hours else f"{rest / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args(), Console(width=max(Console().width, 140)))


if __name__ == "__main__":
    main()
