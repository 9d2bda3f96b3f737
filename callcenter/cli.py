"""The `callcenter` command line."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import click

from callcenter.config import ConfigError, Settings, load_settings

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _serving_settings(
    ctx: click.Context, host: str, port: int, open_all_hours: bool
) -> tuple[Settings, str]:
    """The settings `serve` runs with, and where its public URL came from.

    Without CALLCENTER_PUBLIC_URL, a loopback public URL in the file follows --host and
    --port, so webhooks are signed for the address the server really has."""
    import os
    from urllib.parse import urlsplit

    settings = _settings(ctx)
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


@main.command()
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
    from callcenter.media.downloads import DownloadWorker
    from callcenter.migrate import pending

    settings, public_from = _serving_settings(ctx, host, port, open_all_hours)
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
    click.echo(
        f"  Agent console: {settings.public_url}/agent      "
        f"Wallboard: {settings.public_url}/supervisor"
    )
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
    """Import FILE.csv (name,phone,tier,language,account,notes); all rows or none.

    Every row is checked before anything is written; then rows are written and committed
    in batches of 500, so calls are not held up. If the import is interrupted after that
    (killed, database error), the batches already committed stay: run it again.
    """
    from callcenter.people.customers import CustomerImportError, import_customers_csv

    settings = _settings(ctx)
    database = _database(ctx)
    try:
        with database.session() as session:
            report = import_customers_csv(
                session,
                file,
                default_region=region,
                languages=settings.languages,
                checkpoint=session.commit,
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


# -- agents -------------------------------------------------------------------------------


@main.group()
def agents() -> None:
    """Agent accounts."""


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _read_password() -> str:
    """The first line of standard input (a hidden, confirmed prompt on a terminal)."""
    stream = click.get_text_stream("stdin")
    if stream.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return stream.readline().rstrip("\r\n")


@agents.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Full name shown on consoles.")
@click.option("--number", required=True, help="Agent number announced to callers (3-8 digits).")
@click.option("--role", default="agent", show_default=True, help="agent, supervisor or admin.")
@click.option("--skills", default="", help="Comma-separated, e.g. support,vip.")
@click.option("--languages", default="", help="Comma-separated, e.g. en,zh-CN.")
@click.option("--phone", default=None, help="The agent's own phone, E.164 (+8613912345678).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.pass_context
def agents_add(
    ctx: click.Context,
    username: str,
    display_name: str,
    number: str,
    role: str,
    skills: str,
    languages: str,
    phone: str | None,
    password_stdin: bool,
) -> None:
    """Add an agent; the password comes from standard input, never from the command line."""
    from sqlalchemy.exc import IntegrityError

    from callcenter.people.agents import AgentError, create_agent
    from callcenter.people.customers import normalize_phone

    if not password_stdin:
        raise click.ClickException(
            "pass --password-stdin and give the password on standard input "
            "(it is never taken as an argument)"
        )
    settings = _settings(ctx)
    skill_list = _comma_list(skills)
    known_skills = sorted({skill for queue in settings.queues.values() for skill in queue.skills})
    unknown = [skill for skill in skill_list if known_skills and skill not in known_skills]
    if unknown:
        raise click.ClickException(
            f"skills: {', '.join(unknown)} not used by any queue (known: {', '.join(known_skills)})"
        )
    configured = {language.lower(): language for language in settings.languages}
    language_list = []
    for language in _comma_list(languages):
        if language.lower() not in configured:
            raise click.ClickException(
                f"languages: {language!r} is not configured ({', '.join(settings.languages)})"
            )
        language_list.append(configured[language.lower()])
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except ValueError as exc:
            raise click.ClickException(f"phone: {exc}") from exc
    password = _read_password()
    try:
        with _database(ctx).session() as session:
            agent = create_agent(
                session,
                username=username,
                display_name=display_name,
                agent_number=number,
                password=password,
                role=role,
                skills=skill_list,
                languages=language_list,
                phone=phone,
            )
            summary = (
                f"added {agent.username}: {agent.display_name}, number {agent.agent_number}, "
                f"{agent.role}"
            )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    except IntegrityError as exc:  # lost a race with another command
        raise click.ClickException("username or number is already taken") from exc
    click.echo(summary)


def _text_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns; Chinese characters count as two columns wide."""
    widths = [max(_text_width(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell + " " * (width - _text_width(cell))
            for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]


@agents.command("list")
@click.pass_context
def agents_list(ctx: click.Context) -> None:
    """Print every agent (inactive ones show as status `inactive`)."""
    from sqlalchemy import select

    from callcenter.models import Agent

    with _database(ctx).session() as session:
        found = session.scalars(select(Agent).order_by(Agent.agent_number, Agent.id)).all()
        rows = [
            [
                agent.username,
                agent.display_name,
                agent.agent_number,
                agent.role,
                ",".join(agent.skills or []) or "-",
                ",".join(agent.languages or []) or "-",
                agent.status if agent.active else "inactive",
            ]
            for agent in found
        ]
    if not rows:
        click.echo("no agents yet: `callcenter agents add` or `callcenter agents demo`")
        return
    header = ["USERNAME", "NAME", "NUMBER", "ROLE", "SKILLS", "LANGUAGES", "STATUS"]
    for line in _table([header, *rows]):
        click.echo(line)


@agents.command("deactivate")
@click.argument("username")
@click.pass_context
def agents_deactivate(ctx: click.Context, username: str) -> None:
    """Take an account out of service: its sessions and open consoles end within seconds."""
    from callcenter.people.agents import AgentError, deactivate_agent

    try:
        with _database(ctx).session() as session:
            agent = deactivate_agent(session, username)
            summary = f"deactivated {agent.username}: every session of theirs has ended"
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


@agents.command("passwd")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.pass_context
def agents_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password; the agent's other sessions and open consoles end."""
    from callcenter.people.agents import AgentError, change_password

    if not password_stdin:
        raise click.ClickException(
            "pass --password-stdin and give the password on standard input "
            "(it is never taken as an argument)"
        )
    password = _read_password()
    try:
        with _database(ctx).session() as session:
            agent = change_password(session, username, password)
            summary = f"password changed for {agent.username}: log in again with it"
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


# The demo team of the Lumina Electronics after-sales hotline:
# (username, name, number, role, skills, languages).
DEMO_AGENTS = (
    ("lead", "刘佳", "1024", "supervisor", ("support", "repairs"), ("zh-CN", "en")),
    ("admin", "Daniel Hughes", "1025", "admin", ("support",), ("en",)),
    ("chen.jing", "陈静", "1026", "agent", ("support", "vip"), ("zh-CN", "en")),
    ("li.na", "李娜", "1027", "agent", ("support", "repairs"), ("zh-CN",)),
    ("zhou.hao", "周浩", "1028", "agent", ("repairs",), ("zh-CN",)),
    ("emily.carter", "Emily Carter", "1029", "agent", ("support", "repairs"), ("en",)),
    ("james.wong", "James Wong", "1030", "agent", ("support",), ("en", "zh-CN")),
)
DEMO_VIP_AGENT = "chen.jing"  # account manager of the demo VIP customer
DEMO_VIP_CUSTOMER_PHONE = "+8613800138000"  # 王伟, from demo/customers.csv
DEMO_CREDENTIALS = "demo_credentials.txt"


def _save_demo_credentials(path: Path, new: dict[str, tuple[str, str]]) -> None:
    """Add `username: (password, label)` lines, keeping the others; the file is 0600."""
    import os

    lines: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                lines[line.split("\t", 1)[0]] = line
    for username, (password, label) in new.items():
        lines[username] = f"{username}\t{password}\t{label}"
    order = [username for username, *_ in DEMO_AGENTS]
    ordered = sorted(lines, key=lambda name: order.index(name) if name in order else len(order))
    text = (
        "# Demo console logins (username, password, who), written by `callcenter agents demo`.\n"
        "# Keep this file private; demo accounts are not for production.\n"
        + "".join(lines[name] + "\n" for name in ordered)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


@agents.command("demo")
@click.pass_context
def agents_demo(ctx: click.Context) -> None:
    """Create the demo team (existing demo agents are left alone); passwords are random."""
    import secrets

    from sqlalchemy import select

    from callcenter.models import Agent
    from callcenter.people.agents import AgentError, create_agent
    from callcenter.people.customers import find_customer_by_number

    settings = _settings(ctx)
    credentials = settings.path(settings.instance_dir) / DEMO_CREDENTIALS
    report: list[str] = []
    created: dict[str, tuple[str, str]] = {}
    try:
        with _database(ctx).session() as session:
            team: dict[str, Agent] = {}
            for username, name, number, role, skills, languages in DEMO_AGENTS:
                existing = session.scalar(select(Agent).where(Agent.username == username))
                if existing is not None:
                    team[username] = existing
                    report.append(f"{username}: exists, left alone")
                    continue
                password = secrets.token_urlsafe(12)
                team[username] = create_agent(
                    session,
                    username=username,
                    display_name=name,
                    agent_number=number,
                    password=password,
                    role=role,
                    skills=skills,
                    languages=languages,
                )
                created[username] = (password, f"{name} ({role}, {number})")
                report.append(f"{username}: created ({name}, {role}, number {number})")
            customer = find_customer_by_number(session, DEMO_VIP_CUSTOMER_PHONE)
            if customer is None:
                report.append(
                    f"customer {DEMO_VIP_CUSTOMER_PHONE} not found: import demo/customers.csv "
                    "and run this again to give them an account manager"
                )
            elif customer.account_manager_id is None:
                customer.account_manager_id = team[DEMO_VIP_AGENT].id
                report.append(f"{customer.name}: account manager is now {DEMO_VIP_AGENT}")
            if created:  # before the commit: if saving fails, no agent is created either
                _save_demo_credentials(credentials, created)
    except AgentError as exc:
        raise click.ClickException(f"demo team: {exc}; nothing was changed") from exc
    for line in report:
        click.echo(line)
    if created:
        click.echo("")
        click.echo("New passwords (shown once; also saved, readable only by you, in")
        click.echo(f"{credentials}):")
        for line in _table([[username, password] for username, (password, _) in created.items()]):
            click.echo("  " + line)
    else:
        click.echo("the demo team was already there: nothing created")


# -- prompts ------------------------------------------------------------------------------


@main.group()
def prompts() -> None:
    """Text-to-speech prompt cache."""


@prompts.command("build")
@click.pass_context
def prompts_build(ctx: click.Context) -> None:
    """Render every static prompt with gTTS ahead of time (needs internet)."""
    from callcenter.app import build_services
    from callcenter.knowledge.articles import load_articles
    from callcenter.media.prompts import static_prompts

    settings = _settings(ctx)
    services = build_services(settings)
    ctx.call_on_close(services.database.dispose)
    directory = settings.path(settings.knowledge_base_dir)
    articles, _errors = load_articles(directory, settings.languages)
    summaries = {article.id: (article.summary, article.language) for article in articles}
    wanted = static_prompts(services.flows.flows, settings, summaries)
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


# -- knowledge base -----------------------------------------------------------------------


@main.group()
def kb() -> None:
    """Knowledge base."""


@kb.command("sync")
@click.pass_context
def kb_sync(ctx: click.Context) -> None:
    """Index knowledge_base/ into the database; invalid articles are reported, others index."""
    from callcenter.knowledge import articles as knowledge

    settings = _settings(ctx)
    articles, errors = knowledge.load_articles(
        settings.path(settings.knowledge_base_dir), settings.languages
    )
    for error in errors:
        click.echo(str(error), err=True)
    with _database(ctx).session() as session:
        report = knowledge.sync(session, articles)
    click.echo(f"knowledge base: {report}")
    ctx.exit(1 if errors else 0)


@kb.command("report")
@click.option("--days", default=30, show_default=True, help="Look back this many days.")
@click.pass_context
def kb_report(ctx: click.Context, days: int) -> None:
    """Which articles were used on calls by which IVR choices, and how those calls ended."""
    from datetime import timedelta

    from callcenter.knowledge.usage import resolution_report
    from callcenter.models import utcnow

    with _database(ctx).session() as session:
        rows = resolution_report(session, since=utcnow() - timedelta(days=days))
    if not rows:
        click.echo(f"no article was used on a call in the last {days} day(s)")
        return
    click.echo(f"{'article':<28} {'intent':<28} {'calls':>5} {'sent':>4}  dispositions")
    for row in rows:
        outcomes = ", ".join(f"{name} {count}" for name, count in row.dispositions.items())
        click.echo(
            f"{row.article_id:<28} {row.intent:<28} {row.calls:>5} {row.sent:>4}  {outcomes}"
        )


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

    from callcenter.media.downloads import DownloadWorker

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


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.pass_context
def recordings_purge(ctx: click.Context, dry_run: bool) -> None:
    """Delete stored audio older than the retention policy in config.yaml (retention:)."""
    from callcenter.media.downloads import purge_expired
    from callcenter.models import utcnow

    settings = _settings(ctx)
    with _database(ctx).session() as session:
        report = purge_expired(
            session, settings.path(settings.recordings_dir), settings.retention, utcnow(),
            dry_run=dry_run, checkpoint=None if dry_run else session.commit,
        )  # fmt: skip
        if dry_run:
            session.rollback()
    for sid in report.purged:
        click.echo(f"{sid}: {'would be deleted' if dry_run else 'deleted'}")
    click.echo(str(report))


@recordings.command("retry")
@click.pass_context
def recordings_retry(ctx: click.Context) -> None:
    """Put failed downloads back in line."""
    from callcenter.media.downloads import retry_failed

    with _database(ctx).session() as session:
        count = retry_failed(session)
    click.echo(f"{count} failed download(s) will be retried")


def _fetcher(ctx: click.Context) -> Any:
    from callcenter.media.downloads import RecordingFetcher

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


class _BadValue(click.ClickException):
    """A bad option value: one line (no usage text), exit 2 like any usage error."""

    exit_code = 2

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"Invalid value for '{option}': {message}")


def _caller_inputs(ctx: click.Context) -> list[Any]:
    """--press and --say in the order given; a bad one is a usage error (exit 2)."""
    from callcenter.simulator.phone import Press, Speech

    inputs: list[Any] = []
    for flag, value in ctx.meta.get("ordered_inputs", []):
        if flag == "--press":
            try:
                inputs.append(Press(value))
            except ValueError as exc:
                raise _BadValue(flag, str(exc)) from None
            continue
        text = " ".join(value.split())
        if not text:
            raise _BadValue(flag, "say something: the text is empty")
        inputs.append(Speech(text))
    return inputs


def _as_options(inputs: list[Any]) -> str:
    """Inputs written back as the options that gave them: `--press 5 --say 'hi there'`."""
    import shlex

    from callcenter.simulator.phone import Press

    return " ".join(
        f"--press {shlex.quote(item.keys)}"
        if isinstance(item, Press)
        else f"--say {shlex.quote(item.text)}"
        for item in inputs
    )


def _base_url(value: str | None, option: str) -> str | None:
    import re

    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise _BadValue(option, f"{value!r} is not an http(s) URL")
    return value.rstrip("/") if value else None


def _unreachable(base_url: str, exc: BaseException | None) -> click.ClickException:
    """One line naming the URL tried and why it failed, short."""
    import re

    import requests

    why = "no answer"
    if isinstance(exc, requests.Timeout):
        why = "no answer in time"
    elif exc is not None:
        text = str(exc)
        if "refused" in text.lower():
            why = "connection refused"
        elif "Name or service not known" in text or "nodename nor servname" in text:
            why = "unknown host"
        else:
            found = re.findall(r"\[Errno -?\d+\] ([^'\")]+)", text)
            why = found[-1].strip() if found else type(exc).__name__
    return click.ClickException(
        f"cannot reach the server at {base_url}: {why} "
        "(is it running? `make run` starts it; --url names another)"
    )


@main.command(cls=_OrderedInputs)
@click.argument("from_number", metavar="FROM")
@click.option("--to", "to_number", default=None, help="Number dialed (default: first configured).")
@click.option("--press", multiple=True, help="Keys for the next prompt, e.g. 1 or 12345678#.")
@click.option("--say", multiple=True, help="Words spoken at the next prompt.")
@click.option(
    "--url",
    default=None,
    help="Server base URL (default: the public URL); also the URL webhooks are signed for "
    "unless CALLCENTER_PUBLIC_URL or --public-url says otherwise.",
)
@click.option(
    "--public-url",
    default=None,
    help="The server's public URL, which webhooks are signed for (when it is not --url).",
)
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
    public_url: str | None,
    hold: int,
    record_seconds: int,
    dial_result: str,
) -> None:
    """Place a simulated call as Twilio would, and print what the caller hears."""
    import os

    import requests

    from callcenter.simulator.phone import HttpTransport, TransportError, format_event, place_call

    inputs = _caller_inputs(ctx)
    url = _base_url(url, "--url")
    public_url = _base_url(public_url, "--public-url")
    settings = _settings(ctx)
    if public_url is None:
        explicit = os.environ.get("CALLCENTER_PUBLIC_URL")
        public_url = settings.public_url if explicit or url is None else url
    base_url = url or public_url
    api_url = settings.twilio_api_url
    if settings.simulator and not os.environ.get("CALLCENTER_TWILIO_API_URL"):
        api_url = public_url + "/simulator"
    to = to_number or settings.main_number
    try:
        requests.get(base_url + "/healthz", timeout=10).close()
    except requests.RequestException as exc:
        raise _unreachable(base_url, exc) from None
    transport = HttpTransport(base_url, public_url=public_url)
    click.echo(f"Calling {to} from {from_number} via {base_url}")
    try:
        with transport:
            result = place_call(
                transport,
                public_url=public_url,
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                from_=from_number,
                to=to,
                inputs=inputs,
                hold_seconds=hold,
                record_seconds=record_seconds,
                dial_result=dial_result,
                api_url=api_url,
                on_event=lambda event: click.echo("  " + format_event(event)),
            )
    except TransportError as exc:
        raise _unreachable(base_url, exc.__cause__ or exc) from exc
    first = result.exchanges[0] if result.exchanges else None
    if first is None or first.status is None:
        raise _unreachable(base_url, None)
    if first.status == 403:
        raise click.ClickException(
            f"the server at {base_url} refused the webhook signed for {first.url} (HTTP 403).\n"
            "It checks signatures against its own public URL and auth token: start it with "
            f"CALLCENTER_PUBLIC_URL={public_url}, or pass --public-url with the server's public "
            "URL (and run this command with the server's config and TWILIO_AUTH_TOKEN)."
        )
    click.echo(f"Call {result.call_sid} ended: {result.ended}")
    if result.unused_inputs:
        click.echo(
            f"Warning: the call ended before these were used: {_as_options(result.unused_inputs)}",
            err=True,
        )
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
