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


def upgrade():
    pass


def downgrade():
    pass
