"""``python -m crm_local``: serve the template locally, move its clock, run the demo.

    python -m crm_local serve                      # make local
    python -m crm_local clock advance 7d           # or PT6H, 90m ...
    python -m crm_local clock to 2026-06-01T06:00:00Z
    python -m crm_local clock show
    python -m crm_local demo                       # make demo
"""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Local AWS emulation of the CRM automation (no Docker, no AWS account).", no_args_is_help=True)
clock_app = typer.Typer(help="Move or show the clock of a running `serve`.", no_args_is_help=True)
app.add_typer(clock_app, name="clock")
console = Console(soft_wrap=True)  # keep copy-paste lines (aws ..., curl ...) on one line

DEFAULT_HTTP_PORT = 3000
DEFAULT_MOTO_PORT = 5000


def _default_url() -> str:
    return os.environ.get("CRM_LOCAL_URL", f"http://127.0.0.1:{DEFAULT_HTTP_PORT}")


def _default_token() -> str:
    from crm_local.cloud import DEFAULT_TOKEN

    return os.environ.get("CRM_LOCAL_TOKEN", DEFAULT_TOKEN)


def _parameters(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param needs KEY=VALUE, got {item!r}")
        out[key] = value
    return out


@app.command()
def serve(
    template: Annotated[Path, typer.Option(help="SAM template")] = Path("template.yaml"),
    port: Annotated[int, typer.Option(help="HTTP API port on 127.0.0.1")] = DEFAULT_HTTP_PORT,
    moto_port: Annotated[int, typer.Option(help="moto server port on 127.0.0.1 (0: any free port)")] = DEFAULT_MOTO_PORT,
    start: Annotated[str | None, typer.Option(help="clock start, ISO-8601 (default: now)")] = None,
    out_dir: Annotated[Path, typer.Option(help="e-mail: OUT_DIR/mail/*.eml, bus events: OUT_DIR/events.jsonl")] = Path("out"),
    param: Annotated[list[str], typer.Option("--param", "-p", help="template parameter KEY=VALUE")] = [],  # noqa: B006
    realtime: Annotated[bool, typer.Option(help="let the clock follow wall time (schedules fire as time passes)")] = False,
    quiet: Annotated[bool, typer.Option(help="capture function output (Powertools logs, EMF metrics)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between background settles")] = 0.2,
) -> None:
    """Start the moto server, the HTTP API and a background pump; run until Ctrl+C."""
    from crm_local.cloud import LocalCloud
    from crm_local.schedules import parse_instant

    begin = parse_instant(start) if start else None
    try:
        cloud = LocalCloud(
            template, start=begin, out_dir=out_dir, parameters=_parameters(param),
            moto_port=moto_port, http_port=port, quiet=quiet,
        ).start()
    except OSError as exc:
        console.print(f"[red]cannot start:[/red] {exc} (is another `serve` running? try --port/--moto-port)")
        raise typer.Exit(1) from exc
    import logging

    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False)
    logging.getLogger("crm_local").addHandler(handler)
    logging.getLogger("crm_local").setLevel(logging.INFO)
    cloud.log_tracebacks = True
    try:
        _print_banner(cloud)
        cloud.start_pump(interval, realtime=realtime)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    finally:
        console.print("stopping ...")
        cloud.close()


def _print_banner(cloud: Any) -> None:
    table_name = next(
        (cloud.physical_name(lid) for lid in cloud.template.resources_of_type("AWS::DynamoDB::Table")), None
    )
    console.print(f"[bold green]CRM local emulation[/bold green]  clock: {cloud.clock.now():%Y-%m-%d %H:%M} UTC")
    console.print(f"HTTP API      [cyan]{cloud.http_url}[/cyan]   token: [yellow]{cloud.token}[/yellow]")
    console.print(f"  curl -H 'Authorization: Bearer {cloud.token}' {cloud.http_url}/tasks")
    console.print(f"AWS endpoint  [cyan]{cloud.endpoint_url}[/cyan]  (region {cloud.region}, any credentials)")
    if table_name:
        console.print(
            f"  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --region {cloud.region} "
            f"--endpoint-url {cloud.endpoint_url} dynamodb scan --table-name {table_name}"
        )
    console.print(f"Clock         python -m crm_local clock advance 7d   (POST {cloud.http_url}/_local/clock)")
    if cloud.out_dir:
        console.print(f"E-mail        {cloud.out_dir / 'mail'}/*.eml")
    if cloud.events_file:
        console.print(f"Bus events    {cloud.events_file}")
    names = Table("logical id", "type", "physical name", box=None, header_style="bold")
    for lid, res in cloud.template.resources.items():
        rtype = res.get("Type", "")
        if rtype in (
            "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Serverless::Function", "AWS::SES::ConfigurationSet",
            "AWS::Events::EventBus",
        ):
            names.add_row(lid, rtype.split("::")[-1], cloud.physical_name(lid))
    console.print(names)
    routes = Table("route", "function", "auth", box=None, header_style="bold")
    for route in cloud.routes():
        routes.add_row(route.route_key, route.function, route.auth)
    console.print(routes)
    for trigger in cloud.schedules.values():
        console.print(f"schedule  {trigger.name}: {trigger.expression.expression} -> {trigger.function}")


def _control(url: str, token: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{url.rstrip('/')}/_local/clock", data=data, method="POST" if data else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        console.print(f"[red]{exc.code}[/red] {exc.read().decode(errors='replace')}")
        raise typer.Exit(1) from exc
    except urllib.error.URLError as exc:
        console.print(f"[red]cannot reach {url}[/red]: {exc.reason} (is `python -m crm_local serve` running?)")
        raise typer.Exit(1) from exc


def _print_clock(result: dict[str, Any]) -> None:
    fired = result.get("fired", [])
    counts: dict[str, int] = {}
    for f in fired:
        counts[f["function"]] = counts.get(f["function"], 0) + 1
    console.print(f"clock: [bold]{result['now']}[/bold]")
    for function, count in counts.items():
        console.print(f"  fired {function} x{count}")
    failed = [f for f in fired if not f["ok"]]
    if failed:
        console.print(f"  [red]{len(failed)} scheduled run(s) failed[/red]")


@clock_app.command("advance")
def clock_advance(
    duration: Annotated[str, typer.Argument(help="7d, 6h, 90m, PT6H, P1DT2H ...")],
    url: Annotated[str, typer.Option(help="base URL of `serve`")] = "",
    token: Annotated[str, typer.Option(help="local token")] = "",
    rate_resolution: Annotated[str | None, typer.Option(help="coalesce rate schedules, e.g. 1h")] = None,
) -> None:
    """Move the clock forward, firing the schedules that fall due."""
    from crm_local.schedules import parse_duration

    parse_duration(duration)  # fail early on a typo
    payload: dict[str, Any] = {"advance": duration}
    if rate_resolution:
        payload["rate_resolution"] = rate_resolution
    _print_clock(_control(url or _default_url(), token or _default_token(), payload))


@clock_app.command("to")
def clock_to(
    instant: Annotated[str, typer.Argument(help="ISO-8601, e.g. 2026-06-01T06:00:00Z")],
    url: Annotated[str, typer.Option(help="base URL of `serve`")] = "",
    token: Annotated[str, typer.Option(help="local token")] = "",
    rate_resolution: Annotated[str | None, typer.Option(help="coalesce rate schedules, e.g. 1h")] = None,
) -> None:
    """Move the clock to an instant, firing the schedules that fall due."""
    payload: dict[str, Any] = {"to": instant}
    if rate_resolution:
        payload["rate_resolution"] = rate_resolution
    _print_clock(_control(url or _default_url(), token or _default_token(), payload))


@clock_app.command("show")
def clock_show(
    url: Annotated[str, typer.Option(help="base URL of `serve`")] = "",
    token: Annotated[str, typer.Option(help="local token")] = "",
) -> None:
    """Print the clock of the running `serve`."""
    _print_clock(_control(url or _default_url(), token or _default_token(), None))


@app.command()
def demo() -> None:
    """Run the workflows on the local emulation with the bundled sample CRM."""
    from crm_local.demo import run_demo

    run_demo()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
