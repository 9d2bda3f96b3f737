"""The IVR's commands: flows check."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.commands import command_settings


@click.group()
def flows() -> None:
    """IVR flows."""


@flows.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_context
def flows_check(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Validate flows; print `file:line: node: problem` and exit 1 on error."""
    from callcenter.app import flow_catalog
    from callcenter.ivr.loader import FlowError, flow_files, load_flows

    settings = command_settings(ctx)
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


def register(main: click.Group) -> None:
    """Add the IVR's commands to the command line."""
    main.add_command(flows)
