"""The `callcenter` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from callcenter.config import ConfigError, Settings, load_settings


def _settings(ctx: click.Context) -> Settings:
    if "settings" not in ctx.meta:
        try:
            ctx.meta["settings"] = load_settings(ctx.find_root().params.get("config"))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return ctx.meta["settings"]


def _database(ctx: click.Context) -> Any:
    """One database per command, closed when the command ends."""
    from callcenter.db import Database

    root = ctx.find_root()
    if "database" not in root.meta:
        settings = _settings(ctx)
        database = Database(settings.database_url, settings.base_dir)
        root.meta["database"] = database
        root.call_on_close(database.dispose)
    return root.meta["database"]


class _Commands(click.Group):
    """Turn database errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            hint = ""
            if "no such table" in str(exc) or "does not exist" in str(exc):
                hint = " (run `callcenter db upgrade`)"
            raise click.ClickException(f"database error: {exc.orig}{hint}") from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="CALLCENTER_CONFIG",
    help="Settings file (default: ./config.yaml).",
)
def main(config: str | None) -> None:
    """Call-center backend: IVR flows on Twilio voice webhooks."""


# -- server -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Run the server (and the recording download worker)."""
    from callcenter.app import create_app
    from callcenter.ivr.loader import FlowError
    from callcenter.migrate import pending
    from callcenter.recordings import DownloadWorker

    settings = _settings(ctx)
    if pending(_database(ctx)):
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
    worker = DownloadWorker(_fetcher(ctx), settings.downloads.poll_seconds)
    worker.start()
    base = f"http://{host}:{port}"
    click.echo(f"callcenter is running on {base}")
    click.echo(f"  health:        {base}/healthz")
    click.echo(f"  Voice URL:     {settings.public_url}/twilio/voice  (POST)")
    click.echo(f"  Status URL:    {settings.public_url}/twilio/status (POST)")
    if settings.simulator:
        click.echo("  Twilio:        local simulator (no TWILIO_ACCOUNT_SID set)")
        prefix = (
            ""
            if settings.public_url == "http://127.0.0.1:5000"
            else (f"CALLCENTER_PUBLIC_URL={settings.public_url} ")
        )
        click.echo(f"  Try a call:    {prefix}.venv/bin/callcenter call +8613800138000 --press 1")
    realtime = services.extras["realtime"]
    realtime.start()
    click.echo(f"  Agent console: {base}/agent      Wallboard: {base}/supervisor")
    try:
        services.extras["socketio"].run(
            app,
            host=host,
            port=port,
            use_reloader=False,
            allow_unsafe_werkzeug=True,
            log_output=False,
        )
    finally:
        realtime.stop()
        worker.stop()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations (safe to run again)."""
    from callcenter.migrate import upgrade

    database = _database(ctx)
    upgrade(database)
    click.echo(f"database is up to date ({database.engine.url.render_as_string()})")


# -- flows --------------------------------------------------------------------------------


@main.group()
def flows() -> None:
    """IVR flows."""


@flows.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_context
def flows_check(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Validate flows; print `file:line: node: problem` and exit 1 on error."""
    from callcenter.app import flow_catalog
    from callcenter.ivr.loader import FlowError, flow_files, load_flows

    settings = _settings(ctx)
    files: list[Path] = []
    for given in paths or (str(settings.path(settings.flows_dir)),):
        path = Path(given)
        files.extend(flow_files(path) if path.is_dir() else [path])
    try:
        loaded = load_flows(files, flow_catalog(settings))
    except FlowError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {len(files)} file(s)", err=True)
        ctx.exit(1)
    nodes = sum(len(flow.nodes) for flow in loaded.flows.values())
    click.echo(f"ok: {len(loaded.flows)} flow(s), {nodes} nodes ({', '.join(loaded.flows)})")


# -- customers ----------------------------------------------------------------------------


@main.group()
def customers() -> None:
    """Customer records."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--region", default=None, help="Default region for numbers without +, e.g. CN.")
@click.pass_context
def customers_import(ctx: click.Context, file: str, region: str | None) -> None:
    """Import FILE.csv (name,phone,tier,language,account,notes); all rows or none."""
    from callcenter.customers import CustomerImportError, import_customers_csv

    settings = _settings(ctx)
    database = _database(ctx)
    try:
        with database.session() as session:
            report = import_customers_csv(
                session, file, default_region=region, languages=settings.languages
            )
    except CustomerImportError as exc:
        for error in exc.errors:
            click.echo(f"{file}: {error}", err=True)
        click.echo("nothing was imported", err=True)
        ctx.exit(1)
    click.echo(
        f"imported {file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )


# -- prompts ------------------------------------------------------------------------------


@main.group()
def prompts() -> None:
    """Text-to-speech prompt cache."""


@prompts.command("build")
@click.pass_context
def prompts_build(ctx: click.Context) -> None:
    """Render every static prompt with gTTS ahead of time (needs internet)."""
    from callcenter.app import build_services
    from callcenter.prompts import static_prompts

    settings = _settings(ctx)
    services = build_services(settings)
    ctx.call_on_close(services.database.dispose)
    wanted = static_prompts(services.flows.flows, settings)
    with click.progressbar(length=len(wanted), label="Rendering prompts") as bar:
        report = services.prompts.build(wanted, progress=bar.update)
    click.echo(
        f"{report.rendered} rendered, {report.cached} already cached, {len(report.failed)} failed"
    )
    for text, language, error in report.failed[:20]:
        click.echo(f"  failed [{language}] {text[:60]!r}: {error}", err=True)
    if report.failed:
        click.echo("callers will hear <Say> for the prompts that failed", err=True)
        ctx.exit(1)


# -- recordings ---------------------------------------------------------------------------


@main.group()
def recordings() -> None:
    """Recording downloads."""


@recordings.command("fetch")
@click.pass_context
def recordings_fetch(ctx: click.Context) -> None:
    """Run the downloads that are due now."""
    outcomes = _fetcher(ctx).run_due()
    for outcome in outcomes:
        status = f"saved {outcome.path}" if outcome.ok else f"failed: {outcome.error}"
        click.echo(f"{outcome.recording_sid}: {status}")
    click.echo(f"{len(outcomes)} download(s) attempted")


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run only the recording download worker (for deployments serving with gunicorn)."""
    import signal
    import threading

    from callcenter.recordings import DownloadWorker

    settings = _settings(ctx)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    background = DownloadWorker(_fetcher(ctx), settings.downloads.poll_seconds)
    background.start()
    click.echo(
        f"download worker running (every {settings.downloads.poll_seconds:g} s); Ctrl-C stops"
    )
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        background.stop()


@main.group()
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

    with _database(ctx).session() as session:
        cutoff = utcnow() - timedelta(days=days)
        deleted = session.execute(
            delete(WebhookResponse).where(WebhookResponse.created_at < cutoff)
        ).rowcount
    click.echo(f"{deleted} stored webhook answer(s) older than {days} day(s) deleted")


@recordings.command("retry")
@click.pass_context
def recordings_retry(ctx: click.Context) -> None:
    """Put failed downloads back in line."""
    from callcenter.recordings import retry_failed

    with _database(ctx).session() as session:
        count = retry_failed(session)
    click.echo(f"{count} failed download(s) will be retried")


def _fetcher(ctx: click.Context) -> Any:
    from callcenter.recordings import RecordingFetcher

    settings = _settings(ctx)
    return RecordingFetcher(
        _database(ctx).sessions,
        settings.path(settings.recordings_dir),
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.downloads,
    )


# -- simulator ----------------------------------------------------------------------------


class _OrderedInputs(click.Command):
    """Keep --press and --say in the order they were given (one per prompt)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ordered: list[tuple[str, str]] = []
        iterator = iter(args)
        for arg in iterator:
            for flag in ("--press", "--say"):
                if arg == flag:
                    ordered.append((flag, next(iterator, "")))
                elif arg.startswith(flag + "="):
                    ordered.append((flag, arg.split("=", 1)[1]))
        ctx.meta["ordered_inputs"] = ordered
        return super().parse_args(ctx, args)


@main.command(cls=_OrderedInputs)
@click.argument("from_number", metavar="FROM")
@click.option("--to", "to_number", default=None, help="Number dialed (default: first configured).")
@click.option("--press", multiple=True, help="Keys for the next prompt, e.g. 1 or 12345678#.")
@click.option("--say", multiple=True, help="Words spoken at the next prompt.")
@click.option("--url", default=None, help="Server base URL (default: the public URL).")
@click.option("--hold", default=30, show_default=True, help="Seconds to wait in a queue.")
@click.option("--record-seconds", default=5, show_default=True, help="Length of a voicemail.")
@click.option(
    "--dial-result",
    type=click.Choice(["completed", "busy", "no-answer", "failed"]),
    default="completed",
    show_default=True,
    help="What a transferred-to number does.",
)
@click.pass_context
def call(
    ctx: click.Context,
    from_number: str,
    to_number: str | None,
    press: tuple[str, ...],
    say: tuple[str, ...],
    url: str | None,
    hold: int,
    record_seconds: int,
    dial_result: str,
) -> None:
    """Place a simulated call as Twilio would, and print what the caller hears."""
    from callcenter.simulator.phone import (
        HttpTransport,
        Press,
        Speech,
        TransportError,
        format_event,
        place_call,
    )

    settings = _settings(ctx)
    inputs = [
        Press(value) if flag == "--press" else Speech(value)
        for flag, value in ctx.meta.get("ordered_inputs", [])
    ]
    to = to_number or next(iter(settings.numbers), "+18005550100")
    transport = HttpTransport(url or settings.public_url, public_url=settings.public_url)
    click.echo(f"Calling {to} from {from_number} via {url or settings.public_url}")
    try:
        with transport:
            result = place_call(
                transport,
                public_url=settings.public_url,
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                from_=from_number,
                to=to,
                inputs=inputs,
                hold_seconds=hold,
                record_seconds=record_seconds,
                dial_result=dial_result,
                api_url=settings.twilio_api_url,
                on_event=lambda event: click.echo("  " + format_event(event)),
            )
    except TransportError as exc:
        raise click.ClickException(f"cannot reach the server: {exc}") from exc
    first = result.exchanges[0] if result.exchanges else None
    if first is None or first.status is None:
        raise click.ClickException(f"cannot reach the server at {transport.base_url}")
    click.echo(f"Call {result.call_sid} ended: {result.ended}")
    if result.ended.startswith("application error"):
        ctx.exit(1)


@main.group()
def config() -> None:
    """Settings."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings (secrets masked)."""
    from callcenter.config import dump_public

    click.echo(dump_public(_settings(ctx)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
