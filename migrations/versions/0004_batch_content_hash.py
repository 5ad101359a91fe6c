"""Batches: a content hash independent of row order (duplicate-batch detection).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on purpose, not batch_alter_table: on SQLite a batch operation that recreates `batches` drops
# the old table, and with foreign keys on that cascades to batch_values and extraction_records.
def upgrade() -> None:
    op.add_column("batches", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_batches_content_sha256", "batches", ["content_sha256"], unique=False)
    _backfill()


def _backfill() -> None:
    """Compute the hash of the batches already stored, from their stored values and records."""
    from taxonomy.ingest import content_sha256

    conn = op.get_bind()
    batches = [r[0] for r in conn.execute(sa.text("SELECT id FROM batches ORDER BY id"))]
    for bid in batches:
        values = conn.execute(
            sa.text(
                "SELECT v.text, bv.weight, bv.count, bv.n_conversations FROM batch_values bv "
                "JOIN value_strings v ON v.id = bv.value_id WHERE bv.batch_id = :b"
            ),
            {"b": bid},
        ).all()
        records = conn.execute(
            sa.text(
                "SELECT r.conversation_id, v.text, r.role, r.task, r.response_type, r.excerpt "
                "FROM extraction_records r JOIN value_strings v ON v.id = r.value_id WHERE r.batch_id = :b"
            ),
            {"b": bid},
        ).all()
        conn.execute(
            sa.text("UPDATE batches SET content_sha256 = :h WHERE id = :b"),
            {"h": content_sha256(values, records), "b": bid},
        )


def downgrade() -> None:
    op.drop_index("ix_batches_content_sha256", table_name="batches")
    op.drop_column("batches", "content_sha256")  # SQLite >= 3.35 drops a column in place
