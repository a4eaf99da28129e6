"""The survey-app command line: help, init, create-user and the demo."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, Customer, Invitation, Response, User
from tests import factories


def test_survey_app_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "survey_app", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("init", "demo", "create-user", "db"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command


def test_a_command_prints_its_own_output_and_no_library_chatter(tmp_path):
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURVEY_APP_")}
    environment["SURVEY_APP_INSTANCE_PATH"] = str(tmp_path / "instance")
    result = subprocess.run([sys.executable, "-m", "survey_app", "outbox"], capture_output=True, text=True,
                            timeout=60, check=True, env=environment)
    assert result.stdout.startswith("The outbox")
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["init", "demo", "create-user"])
def test_every_command_has_help(unmigrated_app, command):
    result = unmigrated_app.test_cli_runner().invoke(args=[command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_init_builds_the_schema(unmigrated_app):
    result = unmigrated_app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "Schema is up to date." in result.output
    with unmigrated_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Campaign)).scalar() == 0


def test_create_user_command_creates_an_admin(app):
    result = app.test_cli_runner().invoke(
        args=["create-user", "--email", "Admin@Example.com", "--role", "admin", "--password", "a very long password"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.email, user.role) == ("admin@example.com", "admin")


def test_create_user_command_reports_a_short_password(app):
    result = app.test_cli_runner().invoke(args=["create-user", "--email", "a@example.com", "--password", "short"])
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output


def demo_counts(app):
    with app.app_context():
        return {
            model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar()
            for model in (Campaign, Customer, Invitation, Response)
        }


def test_demo_builds_the_story_prints_a_login_and_a_link_and_refreshes(unmigrated_app):
    app = unmigrated_app
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-serve", "--customers", "600"])
    assert result.exit_code == 0, result.output
    password = re.search(r"Password:\s+(\S+)", result.output).group(1)
    link = re.search(r"A survey link:\s+(\S+)", result.output).group(1)
    assert link.startswith("https://surveys.example.test/s/")

    first = demo_counts(app)
    assert first["Campaign"] == 4
    assert first["Customer"] == 600
    assert first["Response"] > 30
    with app.app_context():
        car_rental = db.session.execute(select(Campaign).filter_by(key="demo-gratis-dag")).scalar_one()
        assert sum(item.kind == "location" for item in car_rental.items) == 5
        comments = db.session.execute(select(Response.comment).where(Response.comment != "")).scalars().all()
        assert len(set(comments)) == len(comments)  # varied answers, not one template
        languages = set(db.session.execute(select(Response.language)).scalars())
        assert languages == {"nl", "en"}
        scores = set(db.session.execute(select(Response.score)).scalars())
        assert scores & {0, 1, 2, 3, 4, 5, 6} and scores & {7, 8} and scores & {9, 10}
        factories.campaign(key="real-campaign")
        db.session.commit()

    client = app.test_client()
    survey_page = client.get(link.removeprefix("https://surveys.example.test"))
    assert survey_page.status_code == 200
    assert "aanbeveelt" in survey_page.get_data(as_text=True) or "recommend" in survey_page.get_data(as_text=True)
    client.post("/auth/login", data={"email": "researcher@demo.example", "password": password})
    assert client.get("/dashboard/").status_code == 200

    again = runner.invoke(args=["demo", "--no-serve", "--customers", "600"])
    assert again.exit_code == 0, again.output
    assert demo_counts(app)["Campaign"] == first["Campaign"] + 1  # the real campaign survived
    assert demo_counts(app)["Customer"] == 600
    with app.app_context():
        assert db.session.execute(select(Campaign).filter_by(key="real-campaign")).scalar_one()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_demo_command_serves_the_app_and_its_survey_link(tmp_path):
    """The README's first command: build the demo, serve it, and the printed link answers."""
    import os
    import time
    import urllib.request

    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURVEY_APP_")}
    environment["SURVEY_APP_INSTANCE_PATH"] = str(tmp_path / "instance")
    process = subprocess.Popen(
        [sys.executable, "-m", "survey_app", "demo", "--customers", "400", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )
    try:
        output = ""
        deadline = time.monotonic() + 120
        while "Serving on" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output += line
        assert "Serving on" in output, output
        link = re.search(r"A survey link:\s+(\S+)", output).group(1)
        assert link.startswith(f"http://127.0.0.1:{port}/s/")
        for _ in range(50):
            try:
                with urllib.request.urlopen(link + "?score=3", timeout=5) as reply:
                    page = reply.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "<legend>" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=5) as login:
            assert login.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
