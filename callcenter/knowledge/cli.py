"""The knowledge base's commands: kb sync, kb report."""

from __future__ import annotations

import click

from callcenter.commands import command_database, command_settings


@click.group()
def kb() -> None:
    """Knowledge base."""


@kb.command("sync")
@click.pass_context
def kb_sync(ctx: click.Context) -> None:
    """Index knowledge_base/ into the database; invalid articles are reported, others index."""
    from callcenter.knowledge import articles as knowledge

    settings = command_settings(ctx)
    articles, errors = knowledge.load_articles(
        settings.path(settings.knowledge_base_dir), settings.languages
    )
    for error in errors:
        click.echo(str(error), err=True)
    with command_database(ctx).session() as session:
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

    with command_database(ctx).session() as session:
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


def register(main: click.Group) -> None:
    """Add the knowledge base's commands to the command line."""
    main.add_command(kb)
