"""支援措置: 符号 whose items are never answered automatically

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('protections',
    sa.Column('code', sa.CHAR(length=32), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )


def downgrade() -> None:
    op.drop_table('protections')
