"""Alembic's environment for every Wardwise store (see :mod:`agent.app.db`).

The configuration comes from :func:`agent.app.db.alembic_config`: the store (its version table,
its tables, the filter that keeps autogenerate to them) and either an open connection, whose
transaction the caller owns, or a URL to render SQL for (offline mode).
"""

from __future__ import annotations

from alembic import context

config = context.config
store = config.attributes["store"]


connection = config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    url = config.get_main_option("sqlalchemy.url") or ""
    context.configure(
        url=url,
        literal_binds=True,
        target_metadata=store.metadata,
        version_table=store.version_table,
        include_name=store.include_name,
        render_as_batch=url.startswith("sqlite"),
    )
else:
    context.configure(
        connection=connection,
        target_metadata=store.metadata,
        version_table=store.version_table,
        include_name=store.include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
with context.begin_transaction():
    context.run_migrations()
