"""PostgreSQL's compression method for a large column, shared by the migrations that set it."""

import sqlalchemy as sa
from alembic import op


def set_compression(table: str, column: str, method: str) -> None:
    """`method` ("lz4" or "pglz") for new values of `table.column` on PostgreSQL 14 and
    later; a server built without lz4 keeps pglz (the values are stored either way).
    Nothing on SQLite, which has no such setting."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or (bind.dialect.server_version_info or (0,)) < (14,):
        return
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}'))
    except sa.exc.DBAPIError:
        savepoint.rollback()  # built without lz4: pglz stays
    else:
        savepoint.commit()
