"""Extraction records: drop the single-column indexes on value_id and conversation_id.

Each is the leading column of a composite index from 0005 ((value_id, conversation_id) and
(conversation_id, role)), which serves every lookup by that column alone (the analyses, drift, validation
sampling, batch deletes and the cascade from value_strings) just as well; the two only cost ingest time and space.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:40:00
"""
from __future__ import annotations

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_extraction_records_value_id', table_name='extraction_records')
    op.drop_index('ix_extraction_records_conversation_id', table_name='extraction_records')


def downgrade() -> None:
    op.create_index('ix_extraction_records_conversation_id', 'extraction_records', ['conversation_id'], unique=False)
    op.create_index('ix_extraction_records_value_id', 'extraction_records', ['value_id'], unique=False)
