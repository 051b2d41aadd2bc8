"""``xaikit list``: methods, backends, and what is missing."""

from __future__ import annotations

import click

from ._group import main


@main.command("list")
def list_command() -> None:
    """Show every method, every backend (and what to install for the missing ones) and the zoo's models."""
    from .. import list_backends, list_methods
    from ..zoo import list_models

    click.echo("Backends:")
    for row in list_backends():
        versions = ", ".join(f"{k} {v}" for k, v in row.versions.items())
        state = f"available ({versions})" if row.available else f"missing {', '.join(row.missing)}: {row.install}"
        click.echo(f"  {row.name:<12} {state}")
    click.echo("\nMethods:")
    for m in list_methods():
        missing = f"  [not installed: {', '.join(m.unavailable_backends)}]" if m.unavailable_backends else ""
        click.echo(f"  {m.id:<22} {', '.join(m.backends) or '-'}{missing}")
    click.echo("\nZoo models (--zoo NAME; --framework torch: the PyTorch twin, same weights):")
    for z in list_models():
        h, w, c = z.input_shape
        click.echo(f"  {z.name:<22} {h}x{w}x{c}, {len(z.class_names)} classes ({z.output_activation}): "
                   f"{z.description}")
