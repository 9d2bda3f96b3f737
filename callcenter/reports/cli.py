"""`callcenter report queues|agents|ivr|staffing`: the reports from the shell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from callcenter.metrics.queues import INTERVALS


def _context(ctx: click.Context) -> tuple[Any, Any]:
    from callcenter.commands import command_database, command_settings

    return command_settings(ctx), command_database(ctx)


def _period(settings: Any, start: str, end: str, interval: str | None = None) -> Any:
    from callcenter.reports.periods import ReportError, parse_period

    try:
        return parse_period(start, end, settings.timezone, interval)
    except ReportError as exc:
        raise click.UsageError(str(exc)) from exc


def _queue(settings: Any, queue: str | None) -> str | None:
    if queue is not None and queue not in settings.queues:
        raise click.UsageError(f"--queue: no queue named {queue!r} ({', '.join(settings.queues)})")
    return queue


def _emit(columns: Any, rows: list[dict[str, Any]], as_csv: bool, empty: str) -> None:
    from callcenter.reports.output import text_table, to_csv

    if as_csv:
        click.echo(to_csv(columns, rows).lstrip("\ufeff"), nl=False)
    elif not rows:
        click.echo(empty)
    else:
        click.echo(text_table(columns, rows))


def _period_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")(command)
    command = click.option("--to", "end", required=True,
                           help="End: a date (included) or a date-time.")(command)  # fmt: skip
    start = "Start: 2026-11-25 or 2026-11-25T10:00 (center time)."
    return click.option("--from", "start", required=True, help=start)(command)


@click.group("report")
def report() -> None:
    """Reports: queues, agents, IVR paths, staffing advice (definitions: docs/metrics.md)."""


@report.command("queues")
@_period_options
@click.option("--interval", type=click.Choice(INTERVALS), default="1h", show_default=True)
@click.option("--queue", default=None, help="Only this queue.")
@click.pass_context
def report_queues(
    ctx: click.Context, start: str, end: str, as_csv: bool, interval: str, queue: str | None
) -> None:
    """Queue figures per interval: offered, answered, service level, ASA, AHT, abandons…"""
    from callcenter.metrics.definitions import QUEUE_FIELDS
    from callcenter.reports.output import queues_payload

    settings, database = _context(ctx)
    period = _period(settings, start, end, interval)
    with database.session() as session:
        payload = queues_payload(session, settings, period, interval, _queue(settings, queue))  # type: ignore[arg-type]
    columns = QUEUE_FIELDS if as_csv else (
        "interval_start", "queue", "offered", "answered", "abandoned", "short_abandoned",
        "callbacks_requested", "service_level", "asa_seconds", "aht_seconds", "abandon_rate",
        "longest_wait_seconds",
    )  # fmt: skip
    _emit(columns, payload["rows"], as_csv, "no queues")


@report.command("agents")
@_period_options
@click.pass_context
def report_agents(ctx: click.Context, start: str, end: str, as_csv: bool) -> None:
    """Each agent's figures, and percentile ranks among peers (1 = best)."""
    from callcenter.reports.output import AGENT_COLUMNS, agent_rows, agents_payload

    settings, database = _context(ctx)
    period = _period(settings, start, end)
    with database.session() as session:
        rows = agent_rows(agents_payload(session, settings, period))
    columns = AGENT_COLUMNS if as_csv else tuple(c for c in AGENT_COLUMNS
                                                 if c not in ("agent_id", "name"))  # fmt: skip
    _emit(columns, rows, as_csv, "no agent worked in this period")


@report.command("ivr")
@_period_options
@click.option("--flow", default=None, help="Only this flow.")
@click.pass_context
def report_ivr(ctx: click.Context, start: str, end: str, as_csv: bool, flow: str | None) -> None:
    """Per IVR node: callers who reached it, per exit, hang-ups."""
    from callcenter.app import flow_catalog
    from callcenter.ivr.registry import FlowRegistry
    from callcenter.reports.output import IVR_COLUMNS, ivr_payload, ivr_rows

    settings, database = _context(ctx)
    flows = FlowRegistry(settings.path(settings.flows_dir), flow_catalog(settings)).flows
    if flow is not None and flow not in flows:
        raise click.UsageError(f"--flow: no flow named {flow!r} ({', '.join(flows.flows)})")
    period = _period(settings, start, end)
    with database.session() as session:
        rows = ivr_rows(ivr_payload(session, flows, period, flow))
    _emit(IVR_COLUMNS, rows, as_csv, "no flows")


@report.command("staffing")
@click.option("--date", "day", required=True, help="The day: 2026-11-25 (center time).")
@click.option("--interval", type=click.Choice(("15m", "1h")), default="1h", show_default=True)
@click.option("--queue", default=None, help="Only this queue.")
@click.option("--calls", type=click.FloatRange(0, 100_000), default=None,
              help="Calls per interval to plan for (default: those observed).")  # fmt: skip
@click.option("--aht", type=click.FloatRange(0, 86_400), default=None,
              help="Average handle time in seconds (default: the observed).")  # fmt: skip
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")
@click.pass_context
def report_staffing(
    ctx: click.Context, day: str, interval: str, queue: str | None, calls: float | None,
    aht: float | None, as_csv: bool,
) -> None:  # fmt: skip
    """Erlang C: agents needed per interval for the queue's service-level target, next to
    the agents who were logged in."""
    from callcenter.reports.output import staffing_payload
    from callcenter.reports.periods import ReportError, parse_day
    from callcenter.reports.staffing import STAFFING_FIELDS

    settings, database = _context(ctx)
    try:
        period = parse_day(day, settings.timezone)
    except ReportError as exc:
        raise click.UsageError(str(exc)) from exc
    with database.session() as session:
        payload = staffing_payload(session, settings, period, interval,  # type: ignore[arg-type]
                                   _queue(settings, queue), calls, aht)  # fmt: skip
    columns = STAFFING_FIELDS if as_csv else (
        "interval_start", "queue", "calls", "aht_seconds", "traffic_erlangs", "agents_needed",
        "expected_service_level", "expected_asa_seconds", "expected_occupancy",
        "agents_logged_in",
    )  # fmt: skip
    _emit(columns, payload["rows"], as_csv, "no queues")


def register(main: click.Group) -> None:
    """Add `report` to the command line."""
    main.add_command(report)
