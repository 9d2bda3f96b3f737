"""`callcenter twilio setup`: point the account's numbers and TwiML App at the application."""

from __future__ import annotations

import click

from callcenter.commands import command_settings


class _SetupRefused(click.ClickException):
    """The account or the settings do not allow it: one line, exit 2, nothing changed."""

    exit_code = 2


@click.group("twilio")
def twilio_group() -> None:
    """The Twilio account the center answers on."""


@twilio_group.command("setup")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.pass_context
def setup(ctx: click.Context, dry_run: bool) -> None:
    """Set each number's Voice URL and status callback and the softphone's TwiML App to
    CALLCENTER_PUBLIC_URL; prints each field as `old -> new` or `(unchanged)`."""
    import requests
    from twilio.base.exceptions import TwilioRestException

    from callcenter.telephony.bridge import rest_client
    from callcenter.telephony.setup import SetupError, check_reachable, configure_account, is_twilio

    settings = command_settings(ctx)
    try:
        if is_twilio(settings.twilio_api_url):
            check_reachable(settings.public_url)
        client = rest_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
        )
        report = configure_account(
            client,
            settings.public_url,
            settings.answered_numbers,
            settings.twilio_twiml_app_sid,
            dry_run=dry_run,
        )
    except SetupError as exc:
        raise _SetupRefused(f"{exc}; nothing was changed") from None
    except TwilioRestException as exc:
        raise click.ClickException(
            f"Twilio refused {exc.method} {exc.uri}: HTTP {exc.status} {exc.msg}"
        ) from None
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {settings.twilio_api_url}: {exc}") from None
    for change in report.changes:
        click.echo(change.line())
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    elif report.app_created:
        click.echo(
            f"Created the TwiML App {report.app_sid}: set TWILIO_TWIML_APP_SID={report.app_sid}"
        )
    elif report.app_sid != settings.twilio_twiml_app_sid:
        click.echo(
            f"The softphone's TwiML App is {report.app_sid}: "
            f"set TWILIO_TWIML_APP_SID={report.app_sid}"
        )


def register(main: click.Group) -> None:
    """Add `twilio setup` to the command line."""
    main.add_command(twilio_group)
