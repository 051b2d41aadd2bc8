"""The ``xaikit`` command group: xaikit's errors become one-line messages and stable exit codes.

Each command module registers its command(s) on :data:`main`; the package
(:mod:`xaikit.cli`) imports them all.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import MissingDependencyError, XaikitError

EXIT_INPUT = 3
EXIT_DEPENDENCY = 4
EXIT_EXISTS = 5
#: Interrupted (Ctrl-C): what finished is kept, running the same command again resumes.
EXIT_INTERRUPTED = 130


class _Group(click.Group):
    """Turns xaikit's errors into one-line messages and stable exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingDependencyError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DEPENDENCY)
        except FileExistsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_EXISTS)
        except XaikitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_INPUT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xaikit")
def main() -> None:
    """Explain image classifiers and compare methods and libraries on the same footing."""


__all__ = ["main", "EXIT_INPUT", "EXIT_DEPENDENCY", "EXIT_EXISTS", "EXIT_INTERRUPTED"]
