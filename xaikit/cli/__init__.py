"""The ``xaikit`` command line.

Exit codes a script can rely on:

==== =====================================================================
0    success
1    unexpected error (a bug: please report it with the traceback)
2    usage error (unknown option, missing argument) — from Click
3    invalid input (images, model, layer, targets, parameters) — the message says the fix
4    a missing optional dependency — the message says what to install
5    an output file exists and ``--overwrite`` was not given
130  interrupted (``xaikit bench``: finished cells are kept; re-run to resume)
==== =====================================================================

Each command lives in its own module and registers itself on :data:`main`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing on a CPU machine) drowns the
# command's own output; keep it quiet unless the user asked for a level (see _quiet.py:
# commands that need TensorFlow import it through import_tensorflow_quietly).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import click

from ..errors import MissingDependencyError, XaikitError

EXIT_INPUT = 3
EXIT_DEPENDENCY = 4
EXIT_EXISTS = 5


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


def _register() -> None:
    # One import line per module, in alphabetical order; each module adds its command(s) to `main`.
    from . import activations  # noqa: F401
    from . import bench  # noqa: F401
    from . import compare  # noqa: F401
    from . import demo  # noqa: F401
    from . import explain  # noqa: F401
    from . import filters  # noqa: F401
    from . import listing  # noqa: F401
    from . import speed  # noqa: F401


_register()

__all__ = ["main", "EXIT_INPUT", "EXIT_DEPENDENCY", "EXIT_EXISTS"]
