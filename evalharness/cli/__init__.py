"""The ``evalharness`` command line. User errors print one message and exit 2; no tracebacks.

One module per command group: ``run`` (run, finalize, list, report), ``gate`` (gate, compare),
``judge`` (judge, judge-pairwise), ``ratings`` (ratings import|export, calibrate), ``app``;
``options`` holds what they share. Each module imports its heavy parts inside its commands,
so that ``evalharness --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from evalharness.cli import app as streamlit_app
from evalharness.cli import gate, judge, ratings, run
from evalharness.errors import ConfigError, EvalHarnessError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)


def _show_version(value: bool) -> None:
    if value:
        from evalharness import __version__

        typer.echo(f"evalharness {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Evaluate language models: every sample stored, every aggregate with a CI."""


for group in (run, gate, judge, ratings, streamlit_app):  # each module adds its commands
    group.register(app)


def _click_errors() -> tuple[type[Exception], type[Exception], type[Exception]]:
    """(ClickException, UsageError, NoArgsIsHelpError) of the click that Typer uses."""
    try:  # Typer vendors click since 0.20
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    except ImportError:
        from click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    return ClickException, UsageError, NoArgsIsHelpError


def main() -> None:
    click_error, usage_error, no_args = _click_errors()
    try:
        code = app(standalone_mode=False)
    except no_args as exc:  # help text, not an error line
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(2)
    except usage_error as exc:  # a bad option value: one line, not Typer's usage box
        name = exc.ctx.command_path if exc.ctx else "evalharness"
        typer.echo(f"error: {name}: {exc.format_message()}", err=True)
        sys.exit(2)
    except click_error as exc:  # any other click error (an unreadable file argument...)
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C: as click itself reports it
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except EvalHarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # unreadable config, unwritable output: the user's to fix
        typer.echo(f"error: {ConfigError(exc)}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)
