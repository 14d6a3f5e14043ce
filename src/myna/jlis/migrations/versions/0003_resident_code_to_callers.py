"""住民票コード only to callers allowed to receive it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('callers') as batch:
        batch.add_column(sa.Column('receives_resident_code', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('callers') as batch:
        batch.drop_column('receives_resident_code')
