"""a staff decision is recorded first and sent to the hub after the commit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 18:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('queue') as batch:
        batch.add_column(sa.Column('sealed', sa.Text(), nullable=True))
        batch.add_column(sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True))
    # decisions taken before this migration reached the hub inside their transaction
    op.execute("UPDATE queue SET completed_at = decided_at WHERE status <> 'pending'")


def downgrade() -> None:
    with op.batch_alter_table('queue') as batch:
        batch.drop_column('completed_at')
        batch.drop_column('sealed')
