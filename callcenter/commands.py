"""What every command of the command line shares: the settings and the database of the run."""

from __future__ import annotations

from typing import Any

import click

from callcenter.config import ConfigError, Settings, load_settings


def command_settings(ctx: click.Context) -> Settings:
    """The settings of this run (the root's --config, else CALLCENTER_CONFIG or ./config.yaml)."""
    if "settings" not in ctx.meta:
        try:
            ctx.meta["settings"] = load_settings(ctx.find_root().params.get("config"))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return ctx.meta["settings"]


def command_database(ctx: click.Context) -> Any:
    """One database per command, closed when the command ends."""
    from callcenter.db import Database

    root = ctx.find_root()
    if "database" not in root.meta:
        settings = command_settings(ctx)
        database = Database(settings.database_url, settings.base_dir)
        root.meta["database"] = database
        root.call_on_close(database.dispose)
    return root.meta["database"]


def command_actor() -> str:
    """Who the audit log names for an admin action of the command line:
    ``command line (<user>)``."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        who = "unknown user"
    return f"command line ({who})"
