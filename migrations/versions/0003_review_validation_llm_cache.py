"""Review batches (Label Studio), validation samples and judgements, and the language-model response cache.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:50:05.220894
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('llm_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('prompt_hash', sa.String(length=64), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_responses')),
    sa.UniqueConstraint('model', 'prompt_hash', name=op.f('uq_llm_responses_model'))
    )
    op.create_table('validation_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('stratify', sa.String(length=32), nullable=True),
    sa.Column('redact', sa.Boolean(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('population', sa.JSON(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_samples'))
    )
    op.create_table('review_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], name=op.f('fk_review_batches_version_id_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_batches'))
    )
    with op.batch_alter_table('review_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_batches_version_id'), ['version_id'], unique=False)

    op.create_table('review_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('node_uid', sa.String(length=200), nullable=False),
    sa.Column('ls_task_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['review_batches.id'], name=op.f('fk_review_tasks_batch_id_review_batches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_tasks')),
    sa.UniqueConstraint('batch_id', 'node_uid', name=op.f('uq_review_tasks_batch_id'))
    )
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_tasks_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_tasks_ls_task_id'), ['ls_task_id'], unique=False)

    op.create_table('validation_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('stratum', sa.String(length=200), nullable=False),
    sa.Column('excerpt', sa.Text(), nullable=True),
    sa.Column('n_redactions', sa.Integer(), nullable=False),
    sa.Column('ls_task_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['extraction_records.id'], name=op.f('fk_validation_items_record_id_extraction_records')),
    sa.ForeignKeyConstraint(['sample_id'], ['validation_samples.id'], name=op.f('fk_validation_items_sample_id_validation_samples'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_items')),
    sa.UniqueConstraint('sample_id', 'record_id', name=op.f('uq_validation_items_sample_id'))
    )
    with op.batch_alter_table('validation_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_validation_items_ls_task_id'), ['ls_task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_validation_items_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_validation_items_sample_id'), ['sample_id'], unique=False)

    op.create_table('review_annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('ls_annotation_id', sa.Integer(), nullable=False),
    sa.Column('annotator', sa.String(length=200), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('applied_version_id', sa.Integer(), nullable=True),
    sa.Column('pulled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applied_version_id'], ['versions.id'], name=op.f('fk_review_annotations_applied_version_id_versions')),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_review_annotations_task_id_review_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_annotations')),
    sa.UniqueConstraint('task_id', 'ls_annotation_id', name=op.f('uq_review_annotations_task_id'))
    )
    with op.batch_alter_table('review_annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_annotations_task_id'), ['task_id'], unique=False)

    op.create_table('validation_judgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('ls_annotation_id', sa.Integer(), nullable=False),
    sa.Column('annotator', sa.String(length=200), nullable=True),
    sa.Column('answer', sa.String(length=32), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('pulled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['validation_items.id'], name=op.f('fk_validation_judgements_item_id_validation_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_judgements')),
    sa.UniqueConstraint('item_id', 'ls_annotation_id', name=op.f('uq_validation_judgements_item_id'))
    )
    with op.batch_alter_table('validation_judgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_validation_judgements_item_id'), ['item_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('validation_judgements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_validation_judgements_item_id'))

    op.drop_table('validation_judgements')
    with op.batch_alter_table('review_annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_annotations_task_id'))

    op.drop_table('review_annotations')
    with op.batch_alter_table('validation_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_validation_items_sample_id'))
        batch_op.drop_index(batch_op.f('ix_validation_items_record_id'))
        batch_op.drop_index(batch_op.f('ix_validation_items_ls_task_id'))

    op.drop_table('validation_items')
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_tasks_ls_task_id'))
        batch_op.drop_index(batch_op.f('ix_review_tasks_batch_id'))

    op.drop_table('review_tasks')
    with op.batch_alter_table('review_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_batches_version_id'))

    op.drop_table('review_batches')
    op.drop_table('validation_samples')
    op.drop_table('llm_responses')
