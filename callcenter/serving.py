"""Commands that run and keep the center: serve, db upgrade, config show, maintenance prune."""

from __future__ import annotations

import gc
from typing import Any

import click

from callcenter.commands import command_database, command_settings
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.media.cli import fetcher, remote_deleter

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


# -- server -------------------------------------------------------------------------------


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _serving_settings(
    ctx: click.Context, host: str, port: int, open_all_hours: bool
) -> tuple[Settings, str]:
    """The settings `serve` runs with, and where its public URL came from.

    Without CALLCENTER_PUBLIC_URL, a loopback public URL in the file follows --host and
    --port, so webhooks are signed for the address the server really has."""
    import os
    from urllib.parse import urlsplit

    settings = command_settings(ctx)
    overrides: dict[str, Any] = {"open_all_hours": True} if open_all_hours else {}
    origin = "CALLCENTER_PUBLIC_URL" if os.environ.get("CALLCENTER_PUBLIC_URL") else "config"
    if origin == "config" and urlsplit(settings.public_url).hostname in LOOPBACK_HOSTS:
        shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        overrides["public_url"] = f"http://{shown}:{port}"
        origin = "--host/--port"
    if overrides:
        try:
            settings = load_settings(ctx.find_root().params.get("config"), overrides=overrides)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return settings, origin


def _hours_banner(settings: Settings) -> list[str]:
    """What the opening hours mean for callers right now."""
    from datetime import UTC, datetime

    from callcenter.ivr.hours import describe_hours, is_open

    if settings.open_all_hours:
        return [
            "demo: opening hours ignored, open around the clock (--open-all-hours);",
            "run `callcenter serve` without --open-all-hours (`make run OPEN_ALL_HOURS=0`)",
            "to use the hours in config.yaml",
        ]
    if not settings.hours:
        return ["no opening hours configured: always open"]
    now = datetime.now(UTC)
    lines = ["the hours in config.yaml apply:"]
    lines += ["  " + describe_hours(name, hours, now) for name, hours in settings.hours.items()]
    if not all(is_open(hours, now) for hours in settings.hours.values()):
        lines.append("while closed, callers hear the closed message and go to voicemail;")
        lines.append("`serve --open-all-hours` (as `make run` does) opens around the clock")
    return lines


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--open-all-hours",
    is_flag=True,
    help="Demo: ignore the opening hours in config.yaml, open around the clock.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_all_hours: bool) -> None:
    """Run the server (and the recording download worker)."""
    from callcenter.app import create_app
    from callcenter.ivr.loader import FlowError
    from callcenter.logs import RequestHandler
    from callcenter.media.download_worker import DownloadWorker
    from callcenter.migrate import pending

    settings, public_from = _serving_settings(ctx, host, port, open_all_hours)
    if pending(command_database(ctx)):
        raise click.ClickException(
            "the database schema is not up to date: run `callcenter db upgrade`"
        )
    try:
        app = create_app(settings=settings)
    except FlowError as exc:
        raise click.ClickException(f"invalid flows, not starting:\n{exc}") from exc
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    services = app.extensions["callcenter"]
    worker = DownloadWorker(
        fetcher(ctx), settings.downloads.poll_seconds, deleter=remote_deleter(ctx)
    )
    worker.start()
    base = f"http://{host}:{port}"
    click.echo(f"callcenter is running on {base}")
    click.echo(f"  health:        {base}/healthz")
    click.echo(f"  Public URL:    {settings.public_url}  (from {public_from})")
    click.echo(f"  Voice URL:     {settings.public_url}/twilio/voice  (POST)")
    click.echo(f"  Status URL:    {settings.public_url}/twilio/status (POST)")
    for index, line in enumerate(_hours_banner(settings)):
        click.echo(f"  {'Hours:' if index == 0 else '':<15}{line}")
    if settings.simulator:
        click.echo("  Twilio:        local simulator (no TWILIO_ACCOUNT_SID set)")
        click.echo(f"  Phone:         {settings.public_url}/phone  (call in from the browser)")
        url = settings.public_url
        suffix = "" if url == DEFAULT_PUBLIC_URL else f" --url {url}"
        click.echo(f"  Try a call:    .venv/bin/callcenter call +8613800138000 --press 1{suffix}")
    realtime = services.extras["realtime"]
    realtime.start()
    # Everything loaded so far lives for the whole run: keep it out of the collector's
    # work, so collections stay short with many consoles connected.
    gc.collect()
    gc.freeze()
    url = settings.public_url
    click.echo(f"  Agent console: {url}/agent      Wallboard: {url}/supervisor")
    click.echo(f"  Reports:       {url}/reports    Customers: {url}/customers")
    click.echo(f"  Tickets:       {url}/tickets")
    try:
        services.extras["socketio"].run(
            app,
            host=host,
            port=port,
            use_reloader=False,
            allow_unsafe_werkzeug=True,
            log_output=False,
            request_handler=RequestHandler,
        )
    finally:
        realtime.stop()
        worker.stop()


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations (safe to run again)."""
    from callcenter.migrate import upgrade

    database = command_database(ctx)
    upgrade(database)
    click.echo(f"database is up to date ({database.engine.url.render_as_string()})")


@click.group()
def maintenance() -> None:
    """Housekeeping."""


@maintenance.command("prune")
@click.option("--days", default=2, show_default=True, help="Keep webhook answers this long.")
@click.pass_context
def maintenance_prune(ctx: click.Context, days: int) -> None:
    """Delete stored webhook answers older than DAYS (Twilio retries within minutes)."""
    from datetime import timedelta

    from sqlalchemy import delete

    from callcenter.models import WebhookResponse, utcnow

    with command_database(ctx).session() as session:
        cutoff = utcnow() - timedelta(days=days)
        deleted = session.execute(
            delete(WebhookResponse).where(WebhookResponse.created_at < cutoff)
        ).rowcount
    click.echo(f"{deleted} stored webhook answer(s) older than {days} day(s) deleted")


@click.group()
def config() -> None:
    """Settings."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings (secrets masked)."""
    from callcenter.config import dump_public

    click.echo(dump_public(command_settings(ctx)))


def register(main: click.Group) -> None:
    """Add the commands that run and keep the center to the command line."""
    main.add_command(serve)
    main.add_command(db)
    main.add_command(maintenance)
    main.add_command(config)
