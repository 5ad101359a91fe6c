"""Curation: tombstones of retired nodes, change-sets, and branches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:18:02.868908
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('branches',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('head_version_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['head_version_id'], ['versions.id'], name=op.f('fk_branches_head_version_id_versions')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_branches'))
    )
    op.create_table('change_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base_version_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('operations', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_version_id'], ['versions.id'], name=op.f('fk_change_sets_base_version_id_versions')),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], name=op.f('fk_change_sets_version_id_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_sets')),
    sa.UniqueConstraint('version_id', name=op.f('uq_change_sets_version_id'))
    )
    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_sets_base_version_id'), ['base_version_id'], unique=False)

    op.create_table('tombstones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=200), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('replaced_by', sa.JSON(), nullable=False),
    sa.Column('retired_in', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], name=op.f('fk_tombstones_version_id_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tombstones')),
    sa.UniqueConstraint('version_id', 'uid', name=op.f('uq_tombstones_version_id'))
    )
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tombstones_version_id'), ['version_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tombstones_version_id'))

    op.drop_table('tombstones')
    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_sets_base_version_id'))

    op.drop_table('change_sets')
    op.drop_table('branches')
