"""webhooks: endpoints, their secrets and the delivery log

Revision ID: e1a2b3c4d5f6
Revises: d5e8f1a2b3c4
Create Date: 2026-12-01 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a2b3c4d5f6'
down_revision = 'd5e8f1a2b3c4'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('url', sa.String(2000), nullable=False),
        sa.Column('description', sa.String(500), server_default='', nullable=False),
        sa.Column('events', sa.Text(), server_default='[]', nullable=False),
        sa.Column('queues', sa.Text(), server_default='[]', nullable=False),
        sa.Column('functions', sa.Text(), server_default='[]', nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('disabled_reason', sa.String(500), server_default='', nullable=False),
        sa.Column('secret', sa.String(100), nullable=False),
        sa.Column('previous_secret', sa.String(100), nullable=True),
        sa.Column('previous_expires_at', sa.DateTime(), nullable=True),
        sa.Column('created_by', sa.String(72), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('endpoint_id', sa.Integer(), sa.ForeignKey('webhook_endpoints.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('msg_id', sa.String(64), nullable=False),
        sa.Column('idem_key', sa.String(300), nullable=True),
        sa.Column('type', sa.String(64), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('status', sa.String(12), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('response_ms', sa.Integer(), nullable=True),
        sa.Column('response_body', sa.Text(), nullable=True),
        sa.Column('error', sa.String(500), server_default='', nullable=False),
        sa.Column('redelivery_of', BigId, nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('endpoint_id', 'idem_key', name='uq_webhook_deliveries_key'),
    )
    op.create_index('ix_webhook_deliveries_endpoint', 'webhook_deliveries', ['endpoint_id', 'created_at', 'id'])
    op.create_index('ix_webhook_deliveries_created', 'webhook_deliveries', ['created_at', 'id'])
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'])


def downgrade():
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_created', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_endpoint', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
