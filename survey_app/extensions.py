"""Extension objects, created unbound and initialised by the app factory."""

from typing import Any

import flask_limiter
from flask import request
from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
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
login_manager = LoginManager()
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
