"""支援措置 asked for a 宛名番号 whose 符号 has not arrived yet

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 09:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('protection_requests',
    sa.Column('atena_no', sa.String(length=40), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('atena_no')
    )


def downgrade() -> None:
    op.drop_table('protection_requests')
