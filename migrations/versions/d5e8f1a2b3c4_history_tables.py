"""history: job outcomes and their attributes, metric rollups, error groups, schedule notes

Revision ID: d5e8f1a2b3c4
Revises: c7e1a9d2f4b6
Create Date: 2026-12-01 15:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5e8f1a2b3c4'
down_revision = 'c7e1a9d2f4b6'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'job_outcomes',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('job_id', sa.String(200), nullable=False),
        sa.Column('attempt', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('queue', sa.String(200), nullable=False),
        sa.Column('function', sa.String(200), server_default='', nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('enqueued_at', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=False),
        sa.Column('wait_us', sa.BigInteger(), nullable=True),
        sa.Column('run_us', sa.BigInteger(), nullable=True),
        sa.Column('worker', sa.String(200), server_default='', nullable=False),
        sa.Column('exc_type', sa.String(200), nullable=True),
        sa.Column('exc_message', sa.String(1000), nullable=True),
        sa.Column('fingerprint', sa.String(32), nullable=True),
        sa.Column('source', sa.String(8), server_default='stream', nullable=False),
        sa.UniqueConstraint('job_id', 'attempt', name='uq_job_outcomes_job_attempt'),
    )
    for name, columns in (
        ('ix_job_outcomes_ended', ['ended_at', 'id']),
        ('ix_job_outcomes_queue', ['queue', 'ended_at', 'id']),
        ('ix_job_outcomes_queue_status', ['queue', 'status', 'ended_at', 'id']),
        ('ix_job_outcomes_function', ['function', 'ended_at', 'id']),
        ('ix_job_outcomes_function_status', ['function', 'status', 'ended_at', 'id']),
        ('ix_job_outcomes_status', ['status', 'ended_at', 'id']),
        ('ix_job_outcomes_fingerprint', ['fingerprint', 'ended_at', 'id']),
        ('ix_job_outcomes_worker', ['worker', 'ended_at', 'id']),
        ('ix_job_outcomes_job', ['job_id', 'ended_at', 'id']),
    ):
        op.create_index(name, 'job_outcomes', columns)

    op.create_table(
        'job_outcome_attributes',
        sa.Column('outcome_id', BigId, sa.ForeignKey('job_outcomes.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('value', sa.String(200), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_job_outcome_attributes_lookup', 'job_outcome_attributes',
                    ['name', 'value', 'ended_at', 'outcome_id'])

    op.create_table(
        'metric_rollups',
        sa.Column('resolution', sa.String(1), primary_key=True),
        sa.Column('queue', sa.String(200), primary_key=True),
        sa.Column('function', sa.String(200), primary_key=True),
        sa.Column('bucket', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('finished', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('failed', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('retried', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('stopped', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('run_sum_us', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('run_max_us', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('run_buckets', sa.String(400), server_default='', nullable=False),
        sa.Column('wait_sum_us', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('wait_max_us', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('wait_buckets', sa.String(400), server_default='', nullable=False),
        sa.Column('depth', sa.BigInteger(), nullable=True),
        sa.Column('oldest_age_s', sa.Float(), nullable=True),
        sa.Column('source', sa.String(10), server_default='extension', nullable=False),
    )
    op.create_index('ix_metric_rollups_bucket', 'metric_rollups', ['resolution', 'bucket'])

    op.create_table(
        'error_groups',
        sa.Column('fingerprint', sa.String(32), primary_key=True),
        sa.Column('exc_type', sa.String(200), server_default='', nullable=False),
        sa.Column('message', sa.String(1000), server_default='', nullable=False),
        sa.Column('sample_job_id', sa.String(200), nullable=True),
        sa.Column('sample_traceback', sa.Text(), nullable=True),
        sa.Column('first_seen', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.Column('count', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('status', sa.String(12), server_default='open', nullable=False),
        sa.Column('status_changed_at', sa.DateTime(), nullable=True),
        sa.Column('status_changed_by', sa.String(72), nullable=True),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.Column('regressed_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_error_groups_last_seen', 'error_groups', ['last_seen'])
    op.create_index('ix_error_groups_status', 'error_groups', ['status', 'last_seen'])

    op.create_table(
        'schedule_notes',
        sa.Column('schedule_id', sa.String(200), primary_key=True),
        sa.Column('name', sa.String(120), server_default='', nullable=False),
        sa.Column('description', sa.String(2000), server_default='', nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('updated_by', sa.String(72), nullable=True),
    )


def downgrade():
    op.drop_table('schedule_notes')
    op.drop_index('ix_error_groups_status', table_name='error_groups')
    op.drop_index('ix_error_groups_last_seen', table_name='error_groups')
    op.drop_table('error_groups')
    op.drop_index('ix_metric_rollups_bucket', table_name='metric_rollups')
    op.drop_table('metric_rollups')
    op.drop_index('ix_job_outcome_attributes_lookup', table_name='job_outcome_attributes')
    op.drop_table('job_outcome_attributes')
    for name in ('ix_job_outcomes_job', 'ix_job_outcomes_worker', 'ix_job_outcomes_fingerprint', 'ix_job_outcomes_status',
                 'ix_job_outcomes_function_status', 'ix_job_outcomes_function', 'ix_job_outcomes_queue_status',
                 'ix_job_outcomes_queue', 'ix_job_outcomes_ended'):
        op.drop_index(name, table_name='job_outcomes')
    op.drop_table('job_outcomes')
