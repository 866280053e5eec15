"""incoming events: published events and the jobs each enqueued

Revision ID: e2b3c4d5f6a7
Revises: e1a2b3c4d5f6
Create Date: 2026-12-01 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e2b3c4d5f6a7'
down_revision = 'e1a2b3c4d5f6'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'incoming_events',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('payload_bytes', sa.Integer(), server_default='0', nullable=False),
        sa.Column('digest', sa.String(64), nullable=False),
        sa.Column('actor', sa.String(72), nullable=False),
        sa.Column('source', sa.String(8), nullable=False),
        sa.Column('idempotency_key', sa.String(200), nullable=True),
        sa.Column('status', sa.String(12), server_default='pending', nullable=False),
        sa.Column('job_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('idempotency_key', name='uq_incoming_events_key'),
    )
    op.create_index('ix_incoming_events_received', 'incoming_events', ['received_at', 'id'])
    op.create_index('ix_incoming_events_name', 'incoming_events', ['name', 'received_at', 'id'])

    op.create_table(
        'incoming_event_jobs',
        sa.Column('event_id', BigId, sa.ForeignKey('incoming_events.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('position', sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column('job_id', sa.String(200), nullable=False),
        sa.Column('task', sa.String(200), nullable=False),
        sa.Column('queue', sa.String(200), nullable=False),
    )
    op.create_index('ix_incoming_event_jobs_job', 'incoming_event_jobs', ['job_id'])


def downgrade():
    op.drop_index('ix_incoming_event_jobs_job', table_name='incoming_event_jobs')
    op.drop_table('incoming_event_jobs')
    op.drop_index('ix_incoming_events_name', table_name='incoming_events')
    op.drop_index('ix_incoming_events_received', table_name='incoming_events')
    op.drop_table('incoming_events')
