"""production and hand-over in steps (intent, then confirmation)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('productions',
    sa.Column('receipt_no', sa.Integer(), nullable=False),
    sa.Column('card_number', sa.String(length=12), nullable=False),
    sa.Column('holder', sa.JSON(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('signing', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['receipt_no'], ['applications.receipt_no'], ),
    sa.PrimaryKeyConstraint('receipt_no'),
    sa.UniqueConstraint('card_number')
    )
    op.create_table('handovers',
    sa.Column('card_number', sa.String(length=12), nullable=False),
    sa.Column('staff_id', sa.String(length=50), nullable=False),
    sa.Column('identity_method', sa.String(length=10), nullable=False),
    sa.Column('identity_documents', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['card_number'], ['cards.card_number'], ),
    sa.PrimaryKeyConstraint('card_number')
    )


def downgrade() -> None:
    op.drop_table('handovers')
    op.drop_table('productions')
