"""records by leaf index (the commission's audit reads them leaf range by range)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:10:00.000000
"""

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_records_leaf', 'records', ['leaf_index'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_records_leaf', table_name='records')
