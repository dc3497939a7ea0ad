"""Reports benchmark (`make bench`, or `python -m crm_local.bench reports` for only this): what a report reads,
relative to what computing it from the tables would read, measured in one run.

A year of closed deals (default 4,000: lost and won, six reasons, eight owners, six industries, four products, a
few in EUR) and of purchases (default 4,000 by 1,200 customers, one-time and returning) are written to the emulated
template's tables, and each item is given to the real report aggregator as its stream record's new image (the
stream transport itself is covered by the integration tests; here the totals are built quickly). The deals table
also holds the open pipeline (default 16,000 open deals, as a CRM does: they are most of it); an open deal adds
nothing to the totals (checked for each), so those are written without the aggregator. Then:

* the loss-reasons report for the 12 months by industry, through the real report service, against a Scan of the
  deals table that computes the same figures: items read and time, as ratios;
* the retention report for the year against a Scan of the activities table computing the same figures.

Both pairs must agree figure for figure (the run fails otherwise): the ratios compare two ways to the same answer.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import time
import warnings
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from crm_automation.adapters import dynamodb
from crm_automation.domain.models import Activity, ActivityKind, Deal, DealStatus
from crm_automation.domain.reports import deal_contributions
from crm_automation.observability import logger, metrics
from crm_automation.services import report_aggregator, reports
from crm_automation.services.runtime import Runtime
from crm_automation.settings import Settings
from crm_local import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
YEAR_START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
REASONS = ["Cena", "Pomalá reakce servisu", "Chybějící funkce A", "Vybrali konkurenci", "Bez rozpočtu", None]
OWNERS = [f"obchodnik.{i}" for i in range(8)]
INDUSTRIES = ["Strojírenství", "Gastro", "Stavebnictví", "IT", "Logistika", "Zdravotnictví"]
PRODUCTS = ["CRM Start", "CRM Pro", "Servis", "Školení"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-deals", type=int, default=4_000, help="closed deals, through the aggregator")
    parser.add_argument("--report-open-deals", type=int, default=16_000, help="open deals in the deals table")
    parser.add_argument("--report-purchases", type=int, default=4_000)
    parser.add_argument("--report-customers", type=int, default=1_200)


def _deals(n: int, rng: random.Random):
    for i in range(n):
        closed = YEAR_START + timedelta(days=rng.randint(0, 360), hours=rng.randint(0, 10))
        lost = rng.random() < 0.7
        yield Deal(deal_id=f"d-{i:07d}", contact_id=f"c-{i % 5000:07d}", owner=rng.choice(OWNERS),
                   title=f"Obchod {i}", value=Decimal(rng.choice([15000, 40000, 85000, 250000])),
                   currency="EUR" if rng.random() < 0.05 else "CZK",
                   status=DealStatus.LOST if lost else DealStatus.WON,
                   loss_reason=rng.choice(REASONS) if lost else None, product=rng.choice(PRODUCTS),
                   industry=rng.choice(INDUSTRIES), closed_at=closed, last_activity_at=closed,
                   created_at=closed - timedelta(days=40), updated_at=closed, version=1)


def _open_deals(n: int, rng: random.Random):
    for i in range(n):
        touched = YEAR_START + timedelta(days=rng.randint(0, 360))
        yield Deal(deal_id=f"o-{i:07d}", contact_id=f"c-{i % 5000:07d}", owner=rng.choice(OWNERS),
                   title=f"Příležitost {i}", value=Decimal(rng.choice([15000, 40000, 85000])),
                   product=rng.choice(PRODUCTS), industry=rng.choice(INDUSTRIES), last_activity_at=touched,
                   created_at=touched - timedelta(days=10), updated_at=touched, version=1)


def _purchases(n: int, customers: int, rng: random.Random):
    weights = [1 / (k * k) for k in range(1, customers + 1)]  # a few frequent buyers, many one-time ones
    ids = [f"c-{i:07d}" for i in range(customers)]
    for i, contact_id in enumerate(ids[:min(n, customers)]):  # every customer buys at least once
        yield _purchase(i, contact_id, rng)
    for i in range(customers, n):
        yield _purchase(i, rng.choices(ids, weights)[0], rng)


def _purchase(i: int, contact_id: str, rng: random.Random) -> Activity:
    at = YEAR_START + timedelta(days=rng.randint(0, 360), minutes=rng.randint(0, 600))
    return Activity(activity_id=f"p-{i:07d}", contact_id=contact_id, kind=ActivityKind.PURCHASE, direction="in",
                    occurred_at=at, amount=Decimal(rng.choice([490, 1290, 2490, 9900])), created_at=at)


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {}
    while True:
        page = client.scan(TableName=table, **kwargs)
        items += page["Items"]
        dynamodb.stats.requests += 1
        dynamodb.stats.items_read += page.get("ScannedCount", len(page["Items"]))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _loss_from_scan(resource: Any, table: str) -> dict[str, Any]:
    """The loss-reasons figures computed the naive way: read every deal."""
    lost: Counter[str | None] = Counter()
    by_industry: dict[str, Counter[str]] = defaultdict(Counter)
    for item in _scan(resource.meta.client, table):
        if item.get("status") in ("won", "lost") and str(item.get("closed_at", ""))[:4] == "2026":
            by_industry[item.get("industry")][item["status"]] += 1
            if item["status"] == "lost":
                lost[item.get("loss_reason")] += 1
    return {"reasons": dict(lost), "segments": {k: dict(v) for k, v in by_industry.items()}}


def _retention_from_scan(resource: Any, table: str) -> dict[str, int]:
    orders: Counter[str] = Counter()
    for item in _scan(resource.meta.client, table):
        if item.get("kind") == "purchase" and str(item.get("occurred_at", ""))[:4] == "2026":
            orders[item["contact_id"]] += 1
    return {"customers": len(orders), "orders": sum(orders.values()),
            "retained": sum(1 for n in orders.values() if n >= 3)}


def bench_reports(deals: int, open_deals: int, purchases: int, customers: int, console: Console) -> dict[str, Any]:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    level = logger.log_level
    logger.setLevel("WARNING")  # the aggregator's INFO line per record is not the benchmark's output
    try:
        return _bench_reports(deals, open_deals, purchases, customers, console)
    finally:
        logger.setLevel(level)
        metrics.clear_metrics()


def _bench_reports(deals: int, open_deals: int, purchases: int, customers: int, console: Console) -> dict[str, Any]:
    rng = random.Random(23)
    with LocalCloud(template=str(ROOT / "template.yaml"), start=NOW - timedelta(minutes=5), quiet=True) as cloud:
        settings = Settings(deals_table=cloud.physical_name("DealsTable"),
                            activities_table=cloud.physical_name("ActivitiesTable"),
                            tasks_table=cloud.physical_name("TasksTable"),
                            reports_table=cloud.physical_name("ReportsTable"))
        resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url, region_name="eu-central-1")
        store = dynamodb.Store(settings, resource)
        rt = Runtime(settings, store=store)
        started = time.perf_counter()
        # the metrics' EMF lines (flushed every 100 values) are not the benchmark's output
        with contextlib.redirect_stdout(io.StringIO()):
            with resource.Table(settings.deals_table).batch_writer() as batch:
                for deal in _deals(deals, rng):
                    item = store.deals.to_item(deal)
                    batch.put_item(Item=item)
                    report_aggregator.on_deal(rt, None, item, NOW)
                for deal in _open_deals(open_deals, rng):
                    if deal_contributions(deal, settings.timezone, settings.report_attribution_days):
                        raise SystemExit(f"open deal {deal.deal_id} would change the report totals")
                    batch.put_item(Item=store.deals.to_item(deal))
            with resource.Table(settings.activities_table).batch_writer() as batch:
                for activity in _purchases(purchases, customers, rng):
                    item = store.activities.to_item(activity)
                    batch.put_item(Item=item)
                    report_aggregator.on_activity(rt, item, {**item, "applied_at": item["created_at"]}, NOW)
        cloud.skip_stream_backlog()
        console.print(f"{deals:,} closed deals and {purchases:,} purchases by {customers:,} customers added to the "
                      f"report totals in {time.perf_counter() - started:.0f} s ({open_deals:,} open deals beside)")

        def measured(call: Any) -> tuple[Any, int, float]:
            dynamodb.stats.reset()
            began = time.perf_counter()
            result = call()
            return result, dynamodb.stats.items_read, time.perf_counter() - began

        loss, loss_read, loss_s = measured(lambda: reports.loss_reasons(rt, "2026-01", "2026-12", by="industry"))
        naive, naive_read, naive_s = measured(lambda: _loss_from_scan(resource, settings.deals_table))
        retention, ret_read, ret_s = measured(lambda: reports.retention(rt, "2026"))
        naive_ret, naive_ret_read, naive_ret_s = measured(lambda: _retention_from_scan(resource,
                                                                                         settings.activities_table))
    got_reasons = {r["reason"]: r["lost"] for r in loss["reasons"]}
    got_segments = {s["segment"]: {k: s[k] for k in ("won", "lost") if s[k]} for s in loss["segments"]}
    if got_reasons != naive["reasons"] or got_segments != naive["segments"]:
        raise SystemExit(f"loss reasons from the totals differ from the table: {got_reasons} vs {naive['reasons']}")
    if (retention["customers"], retention["orders"], retention["retained_customers"]) != (
            naive_ret["customers"], naive_ret["orders"], naive_ret["retained"]):
        raise SystemExit(f"retention from the totals differs from the table: {retention} vs {naive_ret}")
    return {"deals": deals + open_deals, "loss_read": loss_read, "naive_read": naive_read, "loss_s": loss_s, "naive_s": naive_s,
            "purchases": purchases, "ret_read": ret_read, "naive_ret_read": naive_ret_read, "ret_s": ret_s,
            "naive_ret_s": naive_ret_s, "lost": sum(naive["reasons"].values()), "customers": naive_ret["customers"]}


def run(args: argparse.Namespace, console: Console) -> None:
    r = bench_reports(args.report_deals, args.report_open_deals, args.report_purchases, args.report_customers,
                      console)
    table = Table(title="Reports: read from the running totals vs computed from the tables (one run, same figures)")
    for column in ("report", "table rows", "items read: totals", "items read: table scan", "read ratio (goal <= 0.1)",
                   "time ratio totals ÷ scan"):
        table.add_column(column, justify="right")
    loss_ratio = r["loss_read"] / r["naive_read"]
    ret_ratio = r["ret_read"] / r["naive_ret_read"]
    table.add_row("loss reasons, 12 months by industry", f"{r['deals']:,} deals", f"{r['loss_read']:,}",
                  f"{r['naive_read']:,}", f"{loss_ratio:.4f}", f"{r['loss_s'] / r['naive_s']:.3f}")
    table.add_row("retention, year", f"{r['purchases']:,} purchases", f"{r['ret_read']:,}",
                  f"{r['naive_ret_read']:,}", f"{ret_ratio:.5f}", f"{r['ret_s'] / r['naive_ret_s']:.4f}")
    console.print(table)
    console.print(f"{r['lost']:,} lost deals, {r['customers']:,} customers; both reports agree figure for figure with "
                  "the scan. The loss report reads the rollup of its segment: one item per status, reason, segment "
                  "value and currency per month, however many deals were closed; retention one item per period, "
                  "whatever the number of customers.")
    if loss_ratio > 0.1 or r["ret_read"] > 1:
        raise SystemExit("reports read more than their goal")
