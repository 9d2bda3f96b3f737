"""Media's commands: prompts build; recordings fetch, purge, retry; the download worker."""

from __future__ import annotations

from typing import Any

import click

from callcenter.commands import command_database, command_settings


@click.group()
def prompts() -> None:
    """Text-to-speech prompt cache."""


@prompts.command("build")
@click.pass_context
def prompts_build(ctx: click.Context) -> None:
    """Render every static prompt with gTTS ahead of time (needs internet)."""
    from callcenter.app import build_services
    from callcenter.knowledge.articles import load_articles
    from callcenter.media.prompts import static_prompts

    settings = command_settings(ctx)
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


@click.group()
def recordings() -> None:
    """Recording downloads."""


@recordings.command("fetch")
@click.pass_context
def recordings_fetch(ctx: click.Context) -> None:
    """Run the downloads that are due now."""
    outcomes = fetcher(ctx).run_due()
    for outcome in outcomes:
        status = f"saved {outcome.path}" if outcome.ok else f"failed: {outcome.error}"
        click.echo(f"{outcome.recording_sid}: {status}")
    click.echo(f"{len(outcomes)} download(s) attempted")


@click.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run only the recording download worker (for deployments serving with gunicorn); it
    also deletes erased people's recordings from Twilio."""
    import signal
    import threading

    from callcenter.media.download_worker import DownloadWorker

    settings = command_settings(ctx)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    background = DownloadWorker(
        fetcher(ctx), settings.downloads.poll_seconds, deleter=remote_deleter(ctx)
    )
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


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.pass_context
def recordings_purge(ctx: click.Context, dry_run: bool) -> None:
    """Delete stored audio older than the retention policy in config.yaml (retention:)."""
    from callcenter.media.retention import purge_expired
    from callcenter.models import utcnow

    settings = command_settings(ctx)
    with command_database(ctx).session() as session:
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
    """Put failed downloads, and failed deletions of Twilio's copies (erasures), back in
    line; the deletions' retry is audited (``erasure.retry``), as on the admin page."""
    from callcenter.commands import command_actor
    from callcenter.media.downloads import retry_failed
    from callcenter.media.remote_erasure import retry_failed_deletions
    from callcenter.models import utcnow
    from callcenter.supervision import audit

    with command_database(ctx).session() as session:
        now = utcnow()
        count = retry_failed(session)
        deletions = retry_failed_deletions(session, now)
        audit.record(session, None, "erasure.retry", now, actor_name=command_actor(),
                     retried=deletions)  # fmt: skip
    click.echo(f"{count} failed download(s) will be retried")
    click.echo(f"{deletions} failed deletion(s) of Twilio's copies will be retried")


def fetcher(ctx: click.Context) -> Any:
    """The recording fetcher of this command's settings and database."""
    from callcenter.media.recording_fetcher import RecordingFetcher

    settings = command_settings(ctx)
    return RecordingFetcher(
        command_database(ctx).sessions,
        settings.path(settings.recordings_dir),
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.downloads,
    )


def remote_deleter(ctx: click.Context) -> Any:
    """What deletes an erased person's recordings from Twilio (through the REST API), on this
    command's settings and database."""
    from callcenter.media.remote_erasure import RemoteDeleter
    from callcenter.telephony.bridge import rest_client
    from callcenter.telephony.recordings import TwilioRecordings

    settings = command_settings(ctx)
    client = rest_client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_url,
        timeout=settings.downloads.timeout_seconds,
    )
    remote = TwilioRecordings(client)
    return RemoteDeleter(command_database(ctx).sessions, remote.delete, settings.downloads)


def register(main: click.Group) -> None:
    """Add media's commands to the command line."""
    main.add_command(prompts)
    main.add_command(recordings)
    main.add_command(worker)
