"""The ``app`` command: start the Streamlit app (``app/``) on the store; ``register(app)`` adds it.

The store URL reaches the app as ``$EVALHARNESS_DB`` (the variable every command reads), so
pages open the same store as ``evalharness run``. The app listens on 127.0.0.1 unless told
otherwise, headless, with Streamlit's usage statistics off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from evalharness.cli.options import DbOption
from evalharness.errors import ConfigError
from evalharness.resources import bundled

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def streamlit_command(script: Path, port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",
    ]


def app_command(
    db: DbOption = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8501,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            help="access token every browser session must give once (?token=…); required "
            "beyond 127.0.0.1 (default: $EVALHARNESS_APP_TOKEN)"
        ),
    ] = None,
) -> None:
    """Start the dashboards and the annotation desk (Streamlit) on the store."""
    from sqlalchemy.engine import make_url

    from evalharness.store import database_url, open_store

    script = bundled("app") / "Home.py"
    if not script.is_file():
        raise ConfigError(f"{script}: the app is missing from this installation of evalharness")
    url = database_url(db)
    open_store(url)  # fail here, with a clear message, on an unreachable or invalid store
    token = token or os.environ.get("EVALHARNESS_APP_TOKEN")
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"--host {host}: serving beyond 127.0.0.1 needs an access token: "
            "--token SECRET or $EVALHARNESS_APP_TOKEN (users open the app with ?token=SECRET)"
        )
    env = {**os.environ, "EVALHARNESS_DB": url}
    if token:
        env["EVALHARNESS_APP_TOKEN"] = token
    shown = make_url(url).render_as_string(hide_password=True)
    typer.echo(f"evalharness app on http://{host}:{port} (store {shown})")
    sys.stdout.flush()
    # exec: the server replaces this process, so a signal to it (Ctrl-C, terminate) stops it
    os.execve(sys.executable, streamlit_command(script, port, host), env)


def register(app: typer.Typer) -> None:
    """Add ``app`` to the ``evalharness`` command line."""
    app.command("app")(app_command)
