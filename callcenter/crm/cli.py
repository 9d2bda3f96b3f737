"""Customer records' commands: `customers erase ID` (beside `customers import`)."""

from __future__ import annotations

import click

from callcenter.commands import command_database, command_settings


@click.command("erase")
@click.argument("customer_id", type=click.IntRange(min=1))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def customers_erase(ctx: click.Context, customer_id: int, yes: bool) -> None:
    """Erase customer ID on request: name, numbers, notes and recorded audio go (Twilio's
    copies too); anonymous counts stay for the reports; the audit log says it happened."""
    from callcenter.crm.erasure import erase_customer
    from callcenter.crm.records import CustomerError
    from callcenter.media.cli import remote_deleter
    from callcenter.media.remote_erasure import still_pending
    from callcenter.models import utcnow

    settings = command_settings(ctx)
    if not yes:
        click.confirm(f"erase customer #{customer_id} for good?", abort=True, err=True)
    with command_database(ctx).session() as session:
        try:
            report = erase_customer(
                session,
                customer_id,
                settings.path(settings.recordings_dir),
                utcnow(),
                prompt_cache_dir=settings.path(settings.tts.cache_dir),
            )
        except CustomerError as exc:
            raise click.ClickException(f"customer #{customer_id}: {exc}") from exc
        session.commit()
    counts = ", ".join(
        f"{value} {name.replace('_', ' ')}" for name, value in report.counts().items()
    )
    click.echo(f"erased customer #{customer_id} ({counts})")
    queued = report.remote_recordings
    if queued:
        remote_deleter(ctx).run_due(limit=len(queued), only=queued)
        with command_database(ctx).session() as session:
            pending = still_pending(session, queued)
        click.echo(f"Twilio's copies of the recordings: {len(queued) - len(pending)} deleted, "
                   f"{len(pending)} pending")  # fmt: skip
        for sid in pending:
            click.echo(f"  pending: {sid} (the download worker retries it, with backoff)")


def register(main: click.Group) -> None:
    """Add `erase` to the `customers` group (registered by the people feature first)."""
    group = main.commands.get("customers")
    if not isinstance(group, click.Group):
        raise RuntimeError("the customers command group must be registered first")
    group.add_command(customers_erase)
