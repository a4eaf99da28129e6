"""The `survey-app` command line. Commands are thin wrappers around services, grouped by
feature in the modules of this package; each module lists its commands in COMMANDS.

Every command also works as `flask --app survey_app <command>`; `survey-app db ...` is
Flask-Migrate's migration group.
"""

from __future__ import annotations

from importlib import import_module

from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

COMMAND_MODULES = ("core", "campaigns", "ingest", "eligibility", "invitations", "analysis", "exports", "privacy")


def main() -> None:
    """Run the survey-app command group."""
    cli = FlaskGroup(
        create_app=_create_app,
        add_version_option=False,
        help="NPS+ surveys for customers who clicked but did not convert, and a broken-promise detector.",
    )
    cli.main(prog_name="survey-app")


def _create_app() -> Flask:
    from survey_app import create_app

    return create_app()


def register(app: Flask) -> None:
    """Attach every feature's commands to the app's CLI group."""
    for name in COMMAND_MODULES:
        for command in import_module(f"{__name__}.{name}").COMMANDS:
            # Plain click commands get an app context here, as @app.cli.command ones would.
            if command.callback is not None and not getattr(command.callback, "__survey_app_context__", False):
                command.callback = with_appcontext(command.callback)
                command.callback.__survey_app_context__ = True  # type: ignore[attr-defined]
            app.cli.add_command(command)
