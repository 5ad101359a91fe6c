"""Extraction records: free slice columns (JSON) and explicitness, with the indexes the analyses filter on.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 22:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('extraction_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slices', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('explicit', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_extraction_records_value_conversation', ['value_id', 'conversation_id'],
                              unique=False)
        batch_op.create_index('ix_extraction_records_conversation_role', ['conversation_id', 'role'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('extraction_records', schema=None) as batch_op:
        batch_op.drop_index('ix_extraction_records_conversation_role')
        batch_op.drop_index('ix_extraction_records_value_conversation')
        batch_op.drop_column('explicit')
        batch_op.drop_column('slices')
