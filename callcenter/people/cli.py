"""People's commands: customers import; agents add, list, edit, deactivate, reactivate,
logout, passwd, demo. Every change to an account is written into the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from callcenter.commands import command_database, command_settings


@click.group()
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

    settings = command_settings(ctx)
    database = command_database(ctx)
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


@click.group()
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
    "--take-calls-on",
    "takes_calls_on",
    type=click.Choice(["browser", "phone"]),
    default=None,
    help="Where the bridge rings the agent [default: phone if --phone, else browser].",
)
@click.option("--auto-answer", is_flag=True, help="The console's softphone answers by itself.")
@click.option(
    "--ui-language",
    type=click.Choice(["en", "zh-CN", "browser"]),
    default=None,
    help="The language of the consoles [default: browser, which follows the browser's].",
)
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
    takes_calls_on: str | None,
    auto_answer: bool,
    ui_language: str | None,
    password_stdin: bool,
) -> None:
    """Add an agent; the password comes from standard input, never from the command line."""
    from sqlalchemy.exc import IntegrityError

    from callcenter.people.accounts import Choices, add_agent, clean_fields
    from callcenter.people.agents import AgentError

    if not password_stdin:
        raise click.ClickException(
            "pass --password-stdin and give the password on standard input "
            "(it is never taken as an argument)"
        )
    choices = Choices.from_settings(command_settings(ctx))
    values = {"name": display_name, "number": number, "role": role, "skills": skills,
              "languages": languages, "phone": phone, "auto_answer": auto_answer}  # fmt: skip
    if takes_calls_on is not None:
        values["takes_calls_on"] = takes_calls_on
    if ui_language is not None:
        values["ui_language"] = "" if ui_language == "browser" else ui_language
    try:
        clean_fields(values, choices)  # before the password is asked for
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    password = _read_password()
    try:
        with command_database(ctx).session() as session:
            agent, created = add_agent(session, choices, username, values, password)
            _audit(session, "agent.add", agent.id, changes=created)
            summary = (
                f"added {agent.username}: {agent.display_name}, number {agent.agent_number}, "
                f"{agent.role}"
            )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    except IntegrityError as exc:  # lost a race with another command
        raise click.ClickException("username or number is already taken") from exc
    click.echo(summary)


class EditError(click.ClickException):
    """A refused change: one line on stderr, exit status 2 (scripts tell it from a crash)."""

    exit_code = 2


def _audit(session: Any, action: str, agent_id: int, **details: Any) -> None:
    """Write an admin action of the command line into the audit log (see supervision/audit.py)."""
    from callcenter.commands import command_actor
    from callcenter.models import utcnow
    from callcenter.supervision import audit

    audit.record(session, None, action, utcnow(), agent_id=agent_id,
                 actor_name=command_actor(), **details)  # fmt: skip


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

    with command_database(ctx).session() as session:
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
        with command_database(ctx).session() as session:
            agent = deactivate_agent(session, username)
            _audit(session, "agent.deactivate", agent.id, changes={"active": [True, False]})
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
        with command_database(ctx).session() as session:
            agent = change_password(session, username, password)
            _audit(session, "agent.password", agent.id)
            summary = f"password changed for {agent.username}: log in again with it"
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


@agents.command("edit")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Full name shown on consoles.")
@click.option("--number", default=None, help="Agent number announced to callers (3-8 digits).")
@click.option("--role", default=None, help="agent, supervisor or admin.")
@click.option("--skills", default=None, help="Comma-separated, replaces the skills ('' for none).")
@click.option("--languages", default=None, help="Comma-separated, replaces the languages.")
@click.option("--phone", default=None, help="The agent's own phone, E.164.")
@click.option("--no-phone", is_flag=True, help="Remove the agent's phone.")
@click.option(
    "--take-calls-on",
    "takes_calls_on",
    type=click.Choice(["browser", "phone"]),
    default=None,
    help="Where the bridge rings the agent.",
)
@click.option(
    "--auto-answer/--no-auto-answer", default=None, help="The softphone answers by itself."
)
@click.option(
    "--ui-language",
    type=click.Choice(["en", "zh-CN", "browser"]),
    default=None,
    help="The language of the consoles; 'browser' follows the browser's.",
)
@click.pass_context
def agents_edit(
    ctx: click.Context,
    username: str,
    display_name: str | None,
    number: str | None,
    role: str | None,
    skills: str | None,
    languages: str | None,
    phone: str | None,
    no_phone: bool,
    takes_calls_on: str | None,
    auto_answer: bool | None,
    ui_language: str | None,
) -> None:
    """Change an agent's fields; only the options given change. Errors: one line, exit 2."""
    from sqlalchemy.exc import IntegrityError

    from callcenter.people.accounts import Choices, edit_agent
    from callcenter.people.agents import AgentError

    if phone is not None and no_phone:
        raise EditError("give --phone or --no-phone, not both")
    given = {"name": display_name, "number": number, "role": role, "skills": skills,
             "languages": languages, "phone": phone, "takes_calls_on": takes_calls_on,
             "auto_answer": auto_answer}  # fmt: skip
    values = {key: value for key, value in given.items() if value is not None}
    if ui_language is not None:
        values["ui_language"] = "" if ui_language == "browser" else ui_language
    if no_phone:
        values["phone"] = None
    if not values:
        raise EditError("nothing to change: give at least one option (see --help)")
    choices = Choices.from_settings(command_settings(ctx))
    try:
        with command_database(ctx).session() as session:
            agent, changes = edit_agent(session, choices, username, values)
            if changes:
                _audit(session, "agent.edit", agent.id, changes=changes)
            name = agent.username
    except AgentError as exc:
        raise EditError(str(exc)) from exc
    except IntegrityError as exc:  # lost a race with another command
        raise EditError("number: already taken") from exc
    if not changes:
        click.echo(f"{name}: nothing changed")
        return
    for key, (old, new) in changes.items():
        click.echo(f"{name}: {key}: {_shown(old)} -> {_shown(new)}")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(value) or "-"
    return "-" if value is None else str(value)


@agents.command("reactivate")
@click.argument("username")
@click.pass_context
def agents_reactivate(ctx: click.Context, username: str) -> None:
    """Put a deactivated account back in service (they log in again with their password)."""
    from callcenter.people.accounts import reactivate_agent
    from callcenter.people.agents import AgentError

    try:
        with command_database(ctx).session() as session:
            agent = reactivate_agent(session, username)
            _audit(session, "agent.reactivate", agent.id, changes={"active": [False, True]})
            summary = f"reactivated {agent.username}: they may log in again"
    except AgentError as exc:
        raise EditError(str(exc)) from exc
    click.echo(summary)


@agents.command("logout")
@click.argument("username")
@click.pass_context
def agents_logout(ctx: click.Context, username: str) -> None:
    """End every session of the agent: their open consoles close within seconds."""
    from callcenter.people.agents import AgentError, end_sessions, find_agent

    try:
        with command_database(ctx).session() as session:
            agent = find_agent(session, username)
            end_sessions(session, agent.id)
            _audit(session, "agent.logout", agent.id)
            summary = f"logged out {agent.username} everywhere"
    except AgentError as exc:
        raise EditError(str(exc)) from exc
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

    settings = command_settings(ctx)
    credentials = settings.path(settings.instance_dir) / DEMO_CREDENTIALS
    report: list[str] = []
    created: dict[str, tuple[str, str]] = {}
    try:
        with command_database(ctx).session() as session:
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


def register(main: click.Group) -> None:
    """Add the people's commands to the command line."""
    main.add_command(customers)
    main.add_command(agents)
