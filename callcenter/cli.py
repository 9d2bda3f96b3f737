"""The `callcenter` command line: the entry point; each feature registers its own commands."""

from __future__ import annotations

import sys
from typing import Any

import click

from callcenter import serving
from callcenter.busy_hour import cli as busy_hour_cli
from callcenter.calls import cli as calls_cli
from callcenter.crm import cli as crm_cli
from callcenter.ivr import cli as ivr_cli
from callcenter.knowledge import cli as knowledge_cli
from callcenter.media import cli as media_cli
from callcenter.people import cli as people_cli
from callcenter.reports import cli as reports_cli
from callcenter.telephony import cli as telephony_cli


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


for feature in (
    serving,
    ivr_cli,
    people_cli,
    crm_cli,
    media_cli,
    knowledge_cli,
    calls_cli,
    reports_cli,
    busy_hour_cli,
    telephony_cli,
):
    feature.register(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
