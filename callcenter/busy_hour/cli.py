"""`callcenter simulate busy-hour`: callers and agents against a running server."""

from __future__ import annotations

import secrets

import click

from callcenter.commands import command_database, command_settings

AGENT_PREFIX = "sim.agent"
FIRST_NUMBER = 9001


def _agents(ctx: click.Context, count: int) -> list[tuple[str, str]]:
    """The run's agents (`sim.agent01`...), created with every queue's skills the first
    time, each given a fresh password (which ends their earlier sessions)."""
    from sqlalchemy import select

    from callcenter.models import Agent
    from callcenter.people.agents import change_password, create_agent

    settings = command_settings(ctx)
    skills = sorted({skill for queue in settings.queues.values() for skill in queue.skills})
    credentials = []
    with command_database(ctx).session() as session:
        for n in range(1, count + 1):
            username, password = f"{AGENT_PREFIX}{n:02d}", secrets.token_urlsafe(12)
            agent = session.scalar(select(Agent).where(Agent.username == username))
            if agent is None:
                create_agent(session, username=username, display_name=f"Simulated agent {n}",
                             agent_number=str(FIRST_NUMBER + n), password=password,
                             skills=skills)  # fmt: skip
            else:
                agent.active = True
                change_password(session, username, password)
            credentials.append((username, password))
    return credentials


@click.group()
def simulate() -> None:
    """Traffic against a running server (simulator mode)."""


@simulate.command("busy-hour")
@click.option("--url", required=True, help="The server's base URL, e.g. http://127.0.0.1:5000.")
@click.option("--callers", default=60, show_default=True, type=click.IntRange(1, 5000))
@click.option("--agents", default=5, show_default=True, type=click.IntRange(1, 99))
@click.option("--minutes", default=60.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Real minutes the hour is compressed into.")  # fmt: skip
@click.option("--abandon", default=0.15, show_default=True, type=click.FloatRange(0, 1),
              help="Share of callers who hang up while waiting.")  # fmt: skip
@click.option("--callback", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of callers who press * for a call-back.")  # fmt: skip
@click.option("--seed", type=int, default=None, help="Same seed, same hour.")
@click.pass_context
def busy_hour(ctx: click.Context, url: str, callers: int, agents: int, minutes: float,
              abandon: float, callback: float, seed: int | None) -> None:  # fmt: skip
    """Simulated callers (through the server's simulator) and agents (real consoles) for a
    busy hour: some callers abandon, some ask for a call-back, agents answer at their own
    speed and wrap up. Uses the server's database for its agents (`sim.agentNN`)."""
    import requests

    from callcenter.busy_hour.run import Plan, run_busy_hour

    if abandon + callback > 1:
        raise click.BadParameter("--abandon and --callback add up to more than 1")
    url = url.rstrip("/")
    try:
        requests.get(url + "/healthz", timeout=10).close()
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach the server at {url}: {exc}") from None
    settings = command_settings(ctx)
    credentials = _agents(ctx, agents)
    plan = Plan(callers=callers, agents=agents, minutes=minutes, abandon_share=abandon,
                callback_share=callback, seed=seed)  # fmt: skip
    click.echo(f"Busy hour: {callers} callers, {agents} agents, in {minutes:g} minutes")
    tally = run_busy_hour(url, settings.main_number, credentials, plan,
                          list(settings.dispositions), on_progress=click.echo)  # fmt: skip
    for what, count in sorted(tally.counts.items()):
        click.echo(f"  {what}: {count}")
    for error in tally.errors[:10]:
        click.echo(f"  problem: {error}", err=True)


def register(main: click.Group) -> None:
    """Add `simulate busy-hour` to the command line."""
    main.add_command(simulate)
