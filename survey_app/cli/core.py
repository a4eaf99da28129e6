"""Set-up commands: init, create-user, demo."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from survey_app.models import ROLES


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create the instance folder and secret key and bring the database schema up to date."""
    from flask_migrate import upgrade

    upgrade()
    click.echo(f"Instance folder: {current_app.instance_path}")
    click.echo(f"Database: {current_app.extensions['sqlalchemy'].engine.url.render_as_string(hide_password=True)}")
    click.echo("Schema is up to date.")


@click.command("create-user")
@click.option("--email", prompt=True, help="The account's email address (its login).")
@click.option("--role", type=click.Choice(ROLES), default="researcher", show_default=True,
              help="Researchers see the dashboard; admins also manage users.")
@click.password_option(help="At least 12 characters. Prompted for (twice) when not given.")
@with_appcontext
def create_user_command(email: str, role: str, password: str) -> None:
    """Create a researcher or admin account."""
    from survey_app.services.users import UserError, create_user

    try:
        user = create_user(email, password, role)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {user.role} {user.email}.")


@click.command("demo")
@click.option("--customers", default=3000, show_default=True, help="How many demo customers to create.")
@click.option("--seed", default=2020, show_default=True, help="Random seed: the same seed gives the same data.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo database and stop, without serving.")
@with_appcontext
def demo_command(customers: int, seed: int, host: str, port: int, no_serve: bool) -> None:
    """Create or refresh the demo database, print a login and a survey link, and serve the app."""
    from flask_migrate import upgrade
    from werkzeug.serving import run_simple

    from survey_app.default_settings import BASE_URL as DEFAULT_BASE_URL
    from survey_app.demo import build_demo

    if current_app.config["BASE_URL"] == DEFAULT_BASE_URL:
        # Links in the demo point to where this demo is served, unless a BASE_URL was configured.
        current_app.config["BASE_URL"] = f"http://{host}:{port}"
    upgrade()
    summary = build_demo(customers=customers, seed=seed)
    click.echo(summary.describe())
    if no_serve:
        return
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl+C to stop)")
    # app.run() refuses to start inside the flask CLI; the development server itself does not.
    run_simple(host, port, current_app._get_current_object(), threaded=True)


COMMANDS = [init_command, create_user_command, demo_command]
