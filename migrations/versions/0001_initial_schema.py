"""Initial schema: batches, values, aliases, extraction records, versions, nodes, memberships.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:57:34.927883
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('shape', sa.String(length=16), nullable=False),
    sa.Column('file_format', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_values', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches')),
    sa.UniqueConstraint('sha256', name=op.f('uq_batches_sha256'))
    )
    op.create_table('value_strings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_value_strings')),
    sa.UniqueConstraint('text', name=op.f('uq_value_strings_text'))
    )
    op.create_table('versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('n_levels', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['versions.id'], name=op.f('fk_versions_parent_id_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_versions'))
    )
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_versions_parent_id'), ['parent_id'], unique=False)

    op.create_table('batch_values',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('value_id', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('n_conversations', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_values_batch_id_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['value_id'], ['value_strings.id'], name=op.f('fk_batch_values_value_id_value_strings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id', 'value_id', name=op.f('pk_batch_values'))
    )
    with op.batch_alter_table('batch_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_values_value_id'), ['value_id'], unique=False)

    op.create_table('extraction_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('value_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('surface', sa.String(length=1000), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('task', sa.Text(), nullable=True),
    sa.Column('response_type', sa.String(length=200), nullable=True),
    sa.Column('excerpt', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_extraction_records_batch_id_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['value_id'], ['value_strings.id'], name=op.f('fk_extraction_records_value_id_value_strings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extraction_records'))
    )
    with op.batch_alter_table('extraction_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extraction_records_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extraction_records_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extraction_records_value_id'), ['value_id'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=200), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('member_count', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('pct_total_occurrences', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['nodes.id'], name=op.f('fk_nodes_parent_id_nodes')),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], name=op.f('fk_nodes_version_id_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes')),
    sa.UniqueConstraint('version_id', 'uid', name=op.f('uq_nodes_version_id'))
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nodes_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_nodes_uid'), ['uid'], unique=False)
        batch_op.create_index('ix_nodes_version_level', ['version_id', 'level'], unique=False)

    op.create_table('value_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value_id', sa.Integer(), nullable=False),
    sa.Column('surface', sa.String(length=1000), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['value_id'], ['value_strings.id'], name=op.f('fk_value_aliases_value_id_value_strings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_value_aliases')),
    sa.UniqueConstraint('value_id', 'surface', name=op.f('uq_value_aliases_value_id'))
    )
    with op.batch_alter_table('value_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_value_aliases_value_id'), ['value_id'], unique=False)

    op.create_table('memberships',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('value_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_memberships_node_id_nodes')),
    sa.ForeignKeyConstraint(['value_id'], ['value_strings.id'], name=op.f('fk_memberships_value_id_value_strings')),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], name=op.f('fk_memberships_version_id_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'value_id', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_value_id'), ['value_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_value_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_node_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('value_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_value_aliases_value_id'))

    op.drop_table('value_aliases')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_nodes_version_level')
        batch_op.drop_index(batch_op.f('ix_nodes_uid'))
        batch_op.drop_index(batch_op.f('ix_nodes_parent_id'))

    op.drop_table('nodes')
    with op.batch_alter_table('extraction_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extraction_records_value_id'))
        batch_op.drop_index(batch_op.f('ix_extraction_records_conversation_id'))
        batch_op.drop_index(batch_op.f('ix_extraction_records_batch_id'))

    op.drop_table('extraction_records')
    with op.batch_alter_table('batch_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_values_value_id'))

    op.drop_table('batch_values')
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_versions_parent_id'))

    op.drop_table('versions')
    op.drop_table('value_strings')
    op.drop_table('batches')
