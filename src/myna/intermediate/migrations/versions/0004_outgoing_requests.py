"""our own requests, recorded before the hub is asked

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outgoing',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('local_ref', sa.String(length=40), nullable=False),
    sa.Column('row_id', sa.String(length=20), nullable=False),
    sa.Column('affair', sa.String(length=100), nullable=False),
    sa.Column('provider', sa.String(length=50), nullable=False),
    sa.Column('item', sa.String(length=50), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('request_id')
    )


def downgrade() -> None:
    op.drop_table('outgoing')
