"""Calling the center from the command line: `callcenter call` (through the simulator's phone)."""

from __future__ import annotations

from typing import Any

import click

from callcenter.commands import command_settings


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
    from callcenter.simulator.leg.events import Press, Speech

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

    from callcenter.simulator.leg.events import Press

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


@click.command(cls=_OrderedInputs)
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

    from callcenter.simulator.leg.call import place_call
    from callcenter.simulator.leg.events import format_event
    from callcenter.simulator.transports import HttpTransport, TransportError

    inputs = _caller_inputs(ctx)
    url = _base_url(url, "--url")
    public_url = _base_url(public_url, "--public-url")
    settings = command_settings(ctx)
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


def register(main: click.Group) -> None:
    """Add `call` to the command line."""
    main.add_command(call)
