"""`make bench`: benchmarks that print ratios measured in one run (never absolute timings as pass/fail).

dead-deal scan read ratio: a deals table of N deals (default 50,000) in the shapes a pipeline has (open and
active, closed, in the reactivation flow, in the cool-down after one, ~1 % silent for 90 days since yesterday); the
deal scan runs from its schedule, and we count the items it read against the table size.

escalation latency and filtering: on the emulated template served over real HTTP (`make local`'s server), a PATCH
of a contact's satisfaction to "Vysoká nespokojenost"; the latency is from sending the request to seeing both the
lead's task and the marketing pause in the tables (median and 95th percentile of many, and relative to a plain
contact update's round trip in the same run). Then 1,000 unrelated contact updates, counting how often the
escalation function was invoked (goal 0) and how many records its FilterCriteria dropped.

inactivity-scan read ratio: a contacts table of N contacts (default 100,000) of which ~1 % became inactive today;
the daily scan function runs from its ScheduleV2 event on the emulated template, and we count the items it read
(every Query and GetItem response, via the adapter's counters) against the table size. The table is bulk-loaded
before the stream consumers start reading (LATEST), as an import before go-live would be. Without the sparse index the
same question is a filtered Scan, which reads every item (ratio 1.0).

reports (crm_local.bench_reports; `python -m crm_local.bench reports` runs only these): items read by the loss-reasons
and retention reports from the running totals, relative to computing the same figures from the tables.

campaigns (crm_local.bench_campaigns, last; `python -m crm_local.bench campaigns` runs only these): the send path's
CPU per recipient relative to a bare SESv2 send loop, and a 1,000,000-recipient campaign on a virtual clock
relative to N / send rate.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
from rich.console import Console
from rich.table import Table

from crm_automation.adapters import dynamodb
from crm_automation.domain.models import Contact, Deal, DealReactivation, DealStatus, InactivityState
from crm_automation.settings import Settings
from crm_local import LocalCloud, bench_campaigns, bench_reports

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 06:00 in Prague: the daily run


def _population(n: int, due_share: float, rng: random.Random):
    """Contacts in the shapes a real base has: mostly active, some already in the flow, some with open deals,
    some archived, and `due_share` that crossed the 180-day line since yesterday's run."""
    for i in range(n):
        roll = rng.random()
        kwargs: dict = {}
        if roll < due_share:  # inactive since the last run: due today
            last = NOW - timedelta(days=180, hours=rng.randint(0, 23))
        elif roll < 0.65:  # active
            last = NOW - timedelta(days=rng.randint(0, 178))
        elif roll < 0.85:  # already in the inactivity flow (enrolled on an earlier day)
            last = NOW - timedelta(days=rng.randint(200, 700))
            kwargs["inactivity"] = InactivityState(enrolment_id=f"e-{i}", started_at=NOW - timedelta(days=10),
                                                   last_activity_at=last, task_id=f"t-{i}", timer_id=f"m-{i}",
                                                   state=rng.choice(["waiting", "followed_up"]))
        elif roll < 0.95:  # quiet, but a deal is in play
            last = NOW - timedelta(days=rng.randint(200, 700))
            kwargs["open_deal_ids"] = [f"d-{i}"]
        else:  # archived
            last = NOW - timedelta(days=rng.randint(200, 900))
            kwargs["archived"] = True
        yield Contact(contact_id=f"c-{i:07d}", first_name="Jan", last_name=f"Novák {i}", email=f"c{i}@example.cz",
                      owner="petr.svoboda", last_activity_at=last, created_at=last - timedelta(days=30),
                      updated_at=last, lifetime_revenue=Decimal(rng.choice([0, 5000, 40000])), **kwargs)


def bench_scan(contacts: int, due_share: float, console: Console) -> dict[str, float]:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    rng = random.Random(7)
    with LocalCloud(template=str(ROOT / "template.yaml"), start=NOW - timedelta(minutes=5), quiet=True) as cloud:
        settings = Settings(contacts_table=cloud.physical_name("ContactsTable"))
        resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url, region_name="eu-central-1")
        repo = dynamodb.Store(settings, resource).contacts
        table = resource.Table(settings.contacts_table)
        due = 0
        with table.batch_writer() as batch:
            for contact in _population(contacts, due_share, rng):
                due += int(contact.last_activity_at <= NOW - timedelta(days=180) and not contact.inactivity
                           and not contact.open_deal_ids and not contact.archived)
                batch.put_item(Item=repo.to_item(contact))
        skipped = cloud.skip_stream_backlog()  # the bulk load itself is not what is measured
        console.print(f"loaded {contacts:,} contacts, {due:,} of them due today "
                      f"({skipped:,} stream records of the load skipped: consumers start after it)")

        dynamodb.stats.reset()
        started = time.perf_counter()
        firing = cloud.fire("InactivityScanFunction", "Daily", at=NOW)
        scan_seconds = time.perf_counter() - started
        index_reads = dynamodb.stats.items_read
        enrolled = table_count(cloud, "TasksTable")


    if enrolled != due:
        raise SystemExit(f"scan enrolled {enrolled} contacts but {due} were due ({firing})")
    return {"contacts": contacts, "due": due, "enrolled": enrolled, "items_read": index_reads,
            "ratio": index_reads / contacts, "scan_seconds": scan_seconds}


def _deals(n: int, due_share: float, rng: random.Random):
    stale = timedelta(days=90)
    for i in range(n):
        roll = rng.random()
        kwargs: dict = {"status": DealStatus.OPEN}
        if roll < due_share:  # silent for 90 days since the last run: due today
            last = NOW - stale - timedelta(hours=rng.randint(0, 23))
        elif roll < 0.55:  # open, recent activity
            last = NOW - timedelta(days=rng.randint(0, 88))
        elif roll < 0.85:  # closed
            last = NOW - timedelta(days=rng.randint(0, 900))
            kwargs["status"] = rng.choice([DealStatus.WON, DealStatus.LOST])
        else:  # silent, but in the flow now or in its cool-down after one
            last = NOW - timedelta(days=rng.randint(100, 400))
            state = rng.choice(["waiting", "called", "ended"])
            kwargs["reactivation"] = DealReactivation(
                enrolment_id=f"e-{i}", trigger="stale", started_at=NOW - timedelta(days=rng.randint(1, 80)),
                last_activity_at=last, state=state, send_timer_id=f"s-{i}")
        yield Deal(deal_id=f"d-{i:07d}", contact_id=f"c-{i:07d}", owner="petr.svoboda", title=f"Obchod {i}",
                   value=Decimal(rng.choice([15000, 85000, 250000])), last_activity_at=last,
                   created_at=last - timedelta(days=30), updated_at=last, **kwargs)


def bench_deal_scan(deals: int, due_share: float, console: Console) -> dict[str, float]:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    rng = random.Random(11)
    scan_at = NOW + timedelta(minutes=15)  # 06:15 Prague
    with LocalCloud(template=str(ROOT / "template.yaml"), start=NOW - timedelta(minutes=5), quiet=True) as cloud:
        settings = Settings(deals_table=cloud.physical_name("DealsTable"))
        resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url, region_name="eu-central-1")
        repo = dynamodb.Store(settings, resource).deals
        due = 0
        with resource.Table(settings.deals_table).batch_writer() as batch:
            for deal in _deals(deals, due_share, rng):
                due += int(deal.status == DealStatus.OPEN and deal.reactivation is None
                           and deal.last_activity_at <= scan_at - timedelta(days=90))
                batch.put_item(Item=repo.to_item(deal))
        cloud.skip_stream_backlog()
        console.print(f"loaded {deals:,} deals, {due:,} of them due today")
        dynamodb.stats.reset()
        cloud.fire("DealScanFunction", "Daily", at=scan_at)
        items_read = dynamodb.stats.items_read
        enrolled = sum(1 for _ in cloud.client("dynamodb").scan(TableName=cloud.physical_name("FlowsTable"))["Items"])
    if enrolled != due:
        raise SystemExit(f"deal scan enrolled {enrolled} deals but {due} were due")
    return {"deals": deals, "due": due, "enrolled": enrolled, "items_read": items_read, "ratio": items_read / deals}


def table_count(cloud: LocalCloud, logical_id: str) -> int:
    client, name, total, kwargs = cloud.client("dynamodb"), cloud.physical_name(logical_id), 0, {}
    while True:
        page = client.scan(TableName=name, Select="COUNT", **kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def bench_escalation(escalations: int, unrelated: int, console: Console) -> dict[str, float]:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with LocalCloud(template=str(ROOT / "template.yaml"), start=NOW, quiet=True) as cloud:
        base = cloud.serve_http(0)
        cloud.start_pump(0.05)

        def call(method: str, path: str, body: dict) -> float:
            request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(), headers={
                "content-type": "application/json", "authorization": f"Bearer {cloud.token}"})
            started = time.perf_counter()
            with urllib.request.urlopen(request) as response:  # noqa: S310 - our own local server
                response.read()
            return started

        keys = [f"b-{i:04d}" for i in range(escalations)]
        for key in keys:
            call("POST", "/contacts", {"contact_id": key, "last_name": f"Klient {key}", "owner": "petr.svoboda",
                                       "company": f"Firma {key}"})
        contacts = cloud.client("dynamodb")
        contacts_table, tasks_table = cloud.physical_name("ContactsTable"), cloud.physical_name("TasksTable")

        def escalated(key: str) -> bool:
            task = contacts.get_item(TableName=tasks_table, Key={"task_id": {"S": f"task-esc-{key}-1"}})
            item = contacts.get_item(TableName=contacts_table, Key={"contact_id": {"S": key}}).get("Item", {})
            return "Item" in task and "marketing_pause" in item

        latencies, plain = [], []
        for i, key in enumerate(keys):
            started = call("PATCH", f"/contacts/{key}", {"satisfaction": "Vysoká nespokojenost"})
            while not escalated(key):
                if time.perf_counter() - started > 10:
                    raise SystemExit(f"no escalation for {key} within 10 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - started)
            started = call("PATCH", f"/contacts/{keys[-1 - i]}", {"phone": f"+420 777 {i:06d}"})
            plain.append(time.perf_counter() - started)

        invoked, dropped = cloud.invocations["EscalationFunction"], cloud.filtered["EscalationFunction"]
        for i in range(unrelated):
            body = [{"phone": f"+420 608 {i:06d}"}, {"tags": [f"kampaň-{i}"]}, {"lifecycle": "customer"},
                    {"satisfaction": "Vysoká nespokojenost"}][i % 4]  # the last: the same value again, no new rating
            call("PATCH", f"/contacts/{keys[i % len(keys)]}", body)
        cloud.stop_pump()
        cloud.settle()
        tasks = table_count(cloud, "TasksTable")
        result = {
            "escalations": escalations, "median": statistics.median(latencies),
            "p95": statistics.quantiles(latencies, n=20)[-1], "plain_median": statistics.median(plain),
            "unrelated": unrelated, "invocations": cloud.invocations["EscalationFunction"] - invoked,
            "dropped": cloud.filtered["EscalationFunction"] - dropped, "tasks": tasks,
        }
    if result["tasks"] != escalations:
        raise SystemExit(f"{result['tasks']} tasks for {escalations} escalations")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="?", choices=["campaigns", "reports"], help="run only these benchmarks")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.01)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--escalations", type=int, default=100)
    parser.add_argument("--unrelated-updates", type=int, default=1000)
    bench_campaigns.add_arguments(parser)
    bench_reports.add_arguments(parser)
    args = parser.parse_args()
    console = Console(width=max(Console().width, 140))
    if args.only == "campaigns":
        bench_campaigns.run(args, console)
        return
    if args.only == "reports":
        bench_reports.run(args, console)
        return
    e = bench_escalation(args.escalations, args.unrelated_updates, console)
    table = Table(title="Dissatisfaction escalation on the local emulation over HTTP (one run)")
    for column in ("escalations", "latency median", "latency p95", "÷ plain update round trip",
                   "unrelated updates", "escalation invocations (goal 0)", "records dropped by the filter"):
        table.add_column(column, justify="right")
    table.add_row(f"{e['escalations']}", f"{e['median'] * 1000:.0f} ms", f"{e['p95'] * 1000:.0f} ms",
                  f"{e['median'] / e['plain_median']:.2f}", f"{e['unrelated']:,}", f"{e['invocations']}",
                  f"{e['dropped']:,}")
    console.print(table)
    console.print("Latency = from sending PATCH satisfaction to both the lead's task and the marketing pause being in "
                  "the tables. The emulation runs the stream consumers right after each request, so this is the "
                  "handlers' own work, not AWS's stream delivery delay (typically well under a second in AWS).")
    if e["invocations"] or e["median"] >= 1.0:
        raise SystemExit("escalation goals missed: unrelated updates invoked the function or the median is >= 1 s")
    d = bench_deal_scan(args.deals, args.due_share, console)
    table = Table(title="Daily dead-deal scan: items read relative to the deals table (one run)")
    for column in ("deals", "due today", "enrolled", "items read by the scan", "read ratio (goal <= 0.02)"):
        table.add_column(column, justify="right")
    table.add_row(f"{d['deals']:,}", f"{d['due']:,}", f"{d['enrolled']:,}", f"{d['items_read']:,}", f"{d['ratio']:.4f}")
    console.print(table)
    console.print("Deals in the flow or in its cool-down are not read: the sparse ReactivationDue index is keyed by "
                  "the instant a deal becomes due (90 days after its last activity, or the end of its cool-down).")
    if d["ratio"] > 0.02:
        raise SystemExit(f"deal scan read ratio {d['ratio']:.4f} exceeds the 0.02 goal")
    r = bench_scan(args.contacts, args.due_share, console)
    table = Table(title="Daily inactivity scan: items read relative to the contacts table (one run)")
    for column in ("contacts", "due today", "enrolled", "items read by the scan", "read ratio (goal <= 0.02)",
                   "items read per enrolment"):
        table.add_column(column, justify="right")
    table.add_row(f"{r['contacts']:,}", f"{r['due']:,}", f"{r['enrolled']:,}", f"{r['items_read']:,}",
                  f"{r['ratio']:.4f}", f"{r['items_read'] / max(r['enrolled'], 1):.2f}")
    console.print(table)
    console.print("Items read = every item returned by the scan function's Query/GetItem calls (the adapter "
                  "counts ScannedCount). Without the sparse InactivityDue index the same question is a filtered "
                  "Scan, which reads every item: ratio 1.0.")
    if r["ratio"] > 0.02:
        raise SystemExit(f"read ratio {r['ratio']:.4f} exceeds the 0.02 goal")
    bench_reports.run(args, console)
    bench_campaigns.run(args, console)


if __name__ == "__main__":
    main()
