"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from survey_app.extensions import db


@pytest.fixture
def migrated_app(unmigrated_app):
    with unmigrated_app.app_context():
        upgrade()
        yield unmigrated_app
        db.session.remove()


def test_migrations_and_models_agree(migrated_app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrations_create_every_model_table(migrated_app):
    tables = set(inspect(db.engine).get_table_names())
    assert {table.name for table in db.metadata.sorted_tables} <= tables


def test_migrations_downgrade_to_empty_and_up_again(migrated_app):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "responses" in inspect(db.engine).get_table_names()
