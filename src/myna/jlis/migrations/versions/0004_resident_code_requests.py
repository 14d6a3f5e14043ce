"""a town names each request for 住民票コード, so that asking again gets the same batch

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('code_batches') as batch:
        batch.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))
        batch.create_index('uq_code_batches_request', ['municipality_code', 'request_id'],
                           unique=True)


def downgrade() -> None:
    with op.batch_alter_table('code_batches') as batch:
        batch.drop_index('uq_code_batches_request')
        batch.drop_column('request_id')
