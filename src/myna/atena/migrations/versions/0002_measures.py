"""支援措置 remembered for residents without a 宛名番号 yet

Revision ID: 0002
Revises: 0001
Create Date: 2027-01-10 09:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('measures',
    sa.Column('resident_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('resident_id')
    )


def downgrade() -> None:
    op.drop_table('measures')
