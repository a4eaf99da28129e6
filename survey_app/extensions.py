"""Extension objects, created unbound and initialised by the app factory."""

from typing import Any

import flask_limiter
import flask_login
from flask import Flask, Response, g, request
from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# A naming convention keeps Alembic's constraint names stable across SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
# The client address comes from request.remote_addr, which ProxyFix sets from X-Forwarded-For
# only for the configured number of trusted proxies (PROXY_FIX_X_FOR), so clients cannot spoof it.
client_address = get_remote_address


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, minus its per-request evaluation for blueprints that count their own budgets.

    Flask-Limiter evaluates its limits before every request of the app (the hook it registers is
    _check_request_limit). For a blueprint that checks its budgets itself through the same
    limiter (the survey pages, see views/survey.py) that evaluation finds nothing to limit, yet it
    cost as much as the budgets themselves. If a Flask-Limiter release renamed the hook, this
    shortcut would stop applying and nothing else would change: those blueprints have no
    decorated limits for the evaluation to find.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.self_counting_blueprints: set[str] = set()

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and request.blueprint in self.self_counting_blueprints:
            return
        super()._check_request_limit(callable_name, in_middleware)


limiter = Limiter(key_func=client_address, default_limits=[])


class LoginManager(flask_login.LoginManager):
    """Flask-Login, minus its after-request look at the session on pages where nobody signs in.

    Flask-Login's after-request hook (_update_remember_cookie) reads the session on every
    request, to set or clear the remember-me cookie when login_user, logout_user or a failed
    session-protection check asked for it; reading the session also gives every response
    "Vary: Cookie". On an anonymous blueprint's page (the customers' survey pages) that did not
    load the user, none of those can have happened, so the hook is skipped (2% of a survey page
    view's instructions), and a page that does not depend on cookies no longer says it does. A
    page of such a blueprint that did load the user (a template showing current_user, an error
    page in the site's layout) still gets the full hook.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anonymous_blueprints: set[str] = set()

    def init_app(self, app: Flask, add_context_processor: bool = True) -> None:
        super().init_app(app, add_context_processor=False)
        if add_context_processor:
            app.context_processor(lazy_user_context)

    def _update_remember_cookie(self, response: Response) -> Response:
        # Flask-Login keeps the user it loaded for this request in g._login_user.
        if request.blueprint in self.anonymous_blueprints and "_login_user" not in g:
            return response
        return super()._update_remember_cookie(response)


def lazy_user_context() -> dict[str, Any]:
    """Give templates current_user as Flask-Login's proxy, which loads the user when first used.

    Flask-Login's own context processor loads the user for every template, so the customers'
    pages, which never show one, read the session and, for a signed-in researcher, the database.
    """
    return {"current_user": flask_login.current_user}


login_manager = LoginManager()
