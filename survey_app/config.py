"""Configuration in layers: committed defaults, instance/config.py, SURVEY_APP_* environment
variables, then the overrides a test passes in. A later layer wins."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

ENV_PREFIX = "SURVEY_APP"
SECRET_KEY_FILE = "secret_key"
SQLITE_FILE = "survey_app.db"


def load_configuration(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill app.config from every layer and derive the settings that depend on others."""
    app.config.from_object("survey_app.default_settings")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.from_mapping(test_config)

    refuse_unusable_settings(app.config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app)
    if app.config["DEPLOYMENT"] == "production":
        refuse_insecure_production(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(Path(app.instance_path))
    base_url = str(app.config["BASE_URL"]).rstrip("/")
    app.config["BASE_URL"] = base_url
    if base_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    if not app.config.get("MAIL_OUTBOX_DIR"):
        app.config["MAIL_OUTBOX_DIR"] = os.path.join(app.instance_path, "outbox")


class UnusableSetting(ValueError):
    """Settings the app cannot use (a typo, a word where a number belongs), found at start-up."""


# What each checked setting may be. A typo must stop the start with the setting's name, not
# surface later as a crash in a mail run or a dashboard, and never change behaviour silently:
# "SURVEY_APP_DEPLOYMENT=Production" would otherwise skip the production checks.
_CHOICES: dict[str, tuple[str, ...]] = {
    "DEPLOYMENT": ("development", "production"),
    "MAIL_BACKEND": ("outbox", "smtp"),
    "SMTP_SECURITY": ("none", "starttls", "ssl"),
    "LOG_FORMAT": ("text", "json"),
    "LOG_LEVEL": ("debug", "info", "warning", "error", "critical"),
}
# Choices compared without regard to case, as the code that reads them does.
_ANY_CASE = frozenset({"MAIL_BACKEND", "SMTP_SECURITY", "LOG_FORMAT", "LOG_LEVEL"})
# Whole numbers: (smallest, largest or None, whether None is allowed).
_WHOLE_NUMBERS: dict[str, tuple[int, int | None, bool]] = {
    "SMTP_PORT": (1, 65535, False),
    "MAIL_BATCH_SIZE": (1, None, False),
    "MAIL_RATE_LIMIT_PER_MINUTE": (0, None, True),
    "MAIL_RETRY_ATTEMPTS": (0, None, False),
    "MAIL_MAX_SEND_ATTEMPTS": (1, None, False),
    "CONTACT_FREQUENCY_DAYS": (0, None, False),
    "CONVERSION_WINDOW_HOURS": (1, None, False),
    "INVITATION_EXPIRY_DAYS": (1, None, False),
    "WEBHOOK_MAX_BATCH": (1, None, False),
    "WEBHOOK_TIMESTAMP_TOLERANCE": (1, None, False),
    "IMPORT_REJECTS_KEEP_HOURS": (0, None, False),
    "VERDICT_MIN_RESPONDENTS": (1, None, False),
    "VERDICT_REFRESH_SECONDS": (0, None, False),
    "PROXY_FIX_X_FOR": (0, None, False),
    "RETENTION_COMMENT_DAYS": (0, None, True),
    "RETENTION_NONRESPONDENT_DAYS": (0, None, True),
}
# Numbers that may have a fraction: (smallest, largest or None), and whether each bound itself is allowed.
_NUMBERS: dict[str, tuple[float, float | None, bool, bool]] = {
    "SMTP_TIMEOUT": (0.0, None, False, False),
    "MAIL_RETRY_BASE_SECONDS": (0.0, None, True, False),
    "MAIL_CLAIM_TIMEOUT_SECONDS": (0.0, None, False, False),
    "VERDICT_THRESHOLD": (0.0, 1.0, True, False),  # a share; campaign_verdict refuses 1
}


def refuse_unusable_settings(config: dict[str, Any]) -> None:
    """Stop the start when a setting has a value its code cannot use, naming every such setting."""
    problems = []
    for name, allowed in _CHOICES.items():
        value = config.get(name)
        if name == "SMTP_SECURITY" and value is None:
            continue  # read as "none"
        if (str(value).lower() if name in _ANY_CASE else value) not in allowed:
            problems.append(f"{ENV_PREFIX}_{name} is {value!r}; use one of: {', '.join(allowed)}")
    for name, (low, high, none_allowed) in _WHOLE_NUMBERS.items():
        value = config.get(name)
        if value is None and none_allowed:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
            problems.append(f"{ENV_PREFIX}_{name} is {value!r}; it must be a whole number {limits}")
    for name, (low, high, low_allowed, high_allowed) in _NUMBERS.items():
        value = config.get(name)
        if (isinstance(value, bool) or not isinstance(value, int | float) or value < low
                or (value == low and not low_allowed)
                or (high is not None and (value > high or (value == high and not high_allowed)))):
            lower = f"at least {low:g}" if low_allowed else f"above {low:g}"
            upper = "" if high is None else f" and {'at most' if high_allowed else 'below'} {high:g}"
            problems.append(f"{ENV_PREFIX}_{name} is {value!r}; it must be a number {lower}{upper}")
    try:
        # Stored as the list it reads as: the environment gives "[3, 7]", "3,7" or "3".
        config["REMINDER_DAYS"] = reminder_days_from(config.get("REMINDER_DAYS"))
    except ValueError as error:
        problems.append(f"{ENV_PREFIX}_REMINDER_DAYS {error}")
    if problems:
        raise UnusableSetting("Refusing to start with settings the app cannot use:\n- " + "\n- ".join(problems))


def reminder_days_from(value: Any) -> list[int]:
    """Read REMINDER_DAYS: at most MAX_REMINDERS increasing, positive day counts ([] sends none)."""
    # Imported here: this module is imported with the package, also by the analysis library,
    # which must not pay for SQLAlchemy and the models.
    from survey_app.models import MAX_REMINDERS

    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    elif isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple) or not all(
            isinstance(day, str) and day.isdigit() or isinstance(day, int) and not isinstance(day, bool)
            for day in value):
        raise ValueError(f"is {value!r}; it must be a list of whole day counts, such as 3,7")
    days = [int(day) for day in value]
    if len(days) > MAX_REMINDERS or any(day <= 0 for day in days) or days != sorted(set(days)):
        raise ValueError(f"is {days}; it takes at most {MAX_REMINDERS} increasing, positive day counts")
    return days


class InsecureConfiguration(RuntimeError):
    """A production configuration that would run with a known weakness."""


def refuse_insecure_production(config: dict[str, Any]) -> None:
    """Stop a production start that has no configured secret, debug on, or plain-http links."""
    problems = []
    if not config.get("SECRET_KEY"):
        problems.append(
            "SURVEY_APP_SECRET_KEY is not set; every server must share one configured key "
            "(generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    elif len(str(config["SECRET_KEY"])) < 32:
        problems.append("SURVEY_APP_SECRET_KEY is shorter than 32 characters")
    if config.get("DEBUG"):
        problems.append("debug mode is on; it exposes an interactive debugger")
    if not str(config.get("BASE_URL", "")).startswith("https://"):
        problems.append(f"SURVEY_APP_BASE_URL is {config.get('BASE_URL')!r}; emailed links must use https://")
    if problems:
        raise InsecureConfiguration(
            "Refusing to start in production (SURVEY_APP_DEPLOYMENT=production):\n- " + "\n- ".join(problems)
        )


def database_uri(app: Flask) -> str:
    """Return the SQLAlchemy URL: DATABASE_URL, or a SQLite file in the instance folder."""
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + os.path.join(app.instance_path, SQLITE_FILE)
    url = str(url)
    # Plain postgresql:// would pick psycopg2, which we do not install; psycopg 3 is the driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_secret_key(instance_path: Path) -> str:
    """Return the key in instance/secret_key, creating it (mode 0600) on first use."""
    path = instance_path / SECRET_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    # Write a private temporary file, then link it into place: the link fails if another
    # process got there first, and nobody ever reads a half-written key.
    temporary = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    finally:
        temporary.unlink()
    return key
