"""alerts: rules, their state and their history

Revision ID: e3c4d5f6a7b8
Revises: e2b3c4d5f6a7
Create Date: 2026-12-01 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3c4d5f6a7b8'
down_revision = 'e2b3c4d5f6a7'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('target', sa.String(300), server_default='', nullable=False),
        sa.Column('threshold', sa.Float(), server_default='0', nullable=False),
        sa.Column('window_minutes', sa.Integer(), server_default='0', nullable=False),
        sa.Column('severity', sa.String(12), server_default='warning', nullable=False),
        sa.Column('cooldown_seconds', sa.Integer(), server_default='300', nullable=False),
        sa.Column('webhook_ids', sa.Text(), server_default='[]', nullable=False),
        sa.Column('emails', sa.Text(), server_default='[]', nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(72), server_default='', nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(72), server_default='', nullable=False),
        sa.Column('evaluated_at', sa.DateTime(), nullable=True),
        sa.Column('eval_error', sa.String(500), server_default='', nullable=False),
        sa.UniqueConstraint('name', name='uq_alert_rules_name'),
    )
    op.create_table(
        'alert_states',
        sa.Column('rule_id', sa.Integer(), sa.ForeignKey('alert_rules.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('subject', sa.String(300), primary_key=True),
        sa.Column('state', sa.String(8), server_default='ok', nullable=False),
        sa.Column('breached', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('detail', sa.String(500), server_default='', nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('last_fired_at', sa.DateTime(), nullable=True),
        sa.Column('last_resolved_at', sa.DateTime(), nullable=True),
        sa.Column('last_notified_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_alert_states_state', 'alert_states', ['state'])
    op.create_table(
        'alert_events',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('rule_name', sa.String(120), nullable=False),
        sa.Column('severity', sa.String(12), nullable=False),
        sa.Column('subject', sa.String(300), server_default='', nullable=False),
        sa.Column('change', sa.String(12), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('detail', sa.String(500), server_default='', nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('channels', sa.Text(), server_default='[]', nullable=False),
        sa.Column('errors', sa.Text(), server_default='', nullable=False),
    )
    op.create_index('ix_alert_events_at', 'alert_events', ['at', 'id'])
    op.create_index('ix_alert_events_rule', 'alert_events', ['rule_id', 'at', 'id'])


def downgrade():
    op.drop_index('ix_alert_events_rule', table_name='alert_events')
    op.drop_index('ix_alert_events_at', table_name='alert_events')
    op.drop_table('alert_events')
    op.drop_index('ix_alert_states_state', table_name='alert_states')
    op.drop_table('alert_states')
    op.drop_table('alert_rules')
