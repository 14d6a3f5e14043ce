"""answered hub requests (replay guard) and an index for expiring the journal

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answered',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.CHAR(length=64), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('keep_until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('answered', schema=None) as batch_op:
        batch_op.create_index('ix_answered_keep_until', ['keep_until'], unique=False)
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.create_index('ix_journal_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_at')
    with op.batch_alter_table('answered', schema=None) as batch_op:
        batch_op.drop_index('ix_answered_keep_until')
    op.drop_table('answered')
