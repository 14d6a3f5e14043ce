"""支援措置: persons whose address J-LIS withholds

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('protected_persons',
    sa.Column('person_key', sa.CHAR(length=32), nullable=False),
    sa.Column('municipality_code', sa.CHAR(length=6), nullable=False),
    sa.Column('approved_callers', sa.JSON(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('person_key')
    )


def downgrade() -> None:
    op.drop_table('protected_persons')
