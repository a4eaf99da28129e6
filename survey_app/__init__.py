"""survey_app: NPS+ surveys for customers who clicked but did not convert, and a detector for
campaigns whose promise failed.

The factory reads like a table of contents: configuration, extensions, blueprints, error
handlers, response headers, CLI.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from survey_app.config import load_configuration
from survey_app.logs import configure_logging


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure an app: defaults, instance/config.py, SURVEY_APP_* env, test_config."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("SURVEY_APP_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    load_configuration(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from survey_app import auth, database
    from survey_app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from survey_app.i18n import select_locale
    from survey_app.sessions import CookieSessionInterface
    from flask_babel import get_locale

    app.session_interface = CookieSessionInterface()
    db.init_app(app)
    database.configure_engines(app)
    # Migrations ship inside the package, so `survey-app db upgrade` works from any directory;
    # batch mode lets Alembic alter SQLite tables by copying them.
    migrate.init_app(
        app,
        db,
        directory=os.path.join(os.path.dirname(__file__), "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = lambda: str(get_locale())
    login_manager.init_app(app)
    limiter.init_app(app)
    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=app.config["PROXY_FIX_X_FOR"],
        )
    auth.configure_login(login_manager)


def register_blueprints(app: Flask) -> None:
    from survey_app.views import (
        admin, api, auth, campaigns, dashboard, exports, health, imports, privacy, survey, unsubscribe,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(campaigns.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(survey.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(health.bp)
    app.add_url_rule("/", endpoint="index", view_func=dashboard.index)


def register_errorhandlers(app: Flask) -> None:
    from survey_app.views import errors

    errors.register(app)


def register_security_headers(app: Flask) -> None:
    from survey_app.views.headers import add_security_headers

    app.after_request(add_security_headers)


def register_commands(app: Flask) -> None:
    from survey_app.cli import register

    register(app)
