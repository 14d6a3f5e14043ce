"""order per sender and person instead of per sender

Revision ID: ev0002
Revises: ev0001
Create Date: 2026-12-01 13:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'ev0002'
down_revision = 'ev0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_subject_positions',
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'subject')
    )
    # what was applied stays known: each person's last applied event, from the inbox
    op.execute("INSERT INTO event_subject_positions (source, subject, last_seq) "
               "SELECT source, subject, MAX(source_seq) FROM event_inbox "
               "GROUP BY source, subject")
    op.drop_table('event_positions')


def downgrade() -> None:
    op.create_table('event_positions',
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.execute("INSERT INTO event_positions (source, last_seq) SELECT source, MAX(last_seq) "
               "FROM event_subject_positions GROUP BY source")
    op.drop_table('event_subject_positions')
