"""Alembic's environment for the journal's migrations.

``Journal.open`` runs them on its own connection, passed in ``config.attributes["connection"]``
(inside its transaction; no alembic.ini, no logging set-up). Without one (a developer's own
Alembic config with ``sqlalchemy.url``, e.g. for ``alembic revision --autogenerate``), an engine
is made from that URL; ``--sql`` (offline mode) renders the SQL for that URL's dialect.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from mooc_risk.serving.journal.models import Base

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    try:
        with engine.connect() as own:
            _configure(own)
    finally:
        engine.dispose()


run()
