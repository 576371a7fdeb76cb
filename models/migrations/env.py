"""Alembic environment: runs migrations on the URL that models.store.migrate configured."""

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

from models.tables import Base

target_metadata = Base.metadata


def run() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("No database to migrate: models.store.migrate sets sqlalchemy.url or a connection.")
        connectable = create_engine(url)
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            _migrate(connection)
    else:
        _migrate(connectable)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()


run()
