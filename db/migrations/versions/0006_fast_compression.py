"""PostgreSQL: lz4 instead of pglz for the large values (raw mail, files, parse results)

Revision ID: 0006_fast_compression
Revises: 0005_retention
Create Date: 2026-12-03 00:50:00.000000

PostgreSQL compresses every value over 2 KB with pglz before storing it out of line. For raw
mail, which is mostly base64 that pglz cannot shrink, that costs the server a second of CPU
per 50 MB and saves nothing; lz4 (PostgreSQL 14 and later, where the server was built with
it, as Debian's and the official images are) gives up on such data at once and still
compresses text and HTML. A server without lz4 keeps pglz: the mail is stored either way.
Only new values are affected; SQLite has no such setting.
"""

from collections.abc import Sequence

from db.migrations.compression import set_compression

revision: str = "0006_fast_compression"
down_revision: str | None = "0005_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) of the values that are large
COLUMNS = (("inbound", "raw"), ("inbound", "parsed"), ("outbox", "raw"), ("blobs", "data"))


def _set(method: str) -> None:
    for table, column in COLUMNS:
        set_compression(table, column, method)


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
