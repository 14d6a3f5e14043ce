"""個人番号カード of residents as the card centre told the town (card.state_changed)

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-12 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_states',
    sa.Column('card_number', sa.String(length=12), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.resident_id'], ),
    sa.PrimaryKeyConstraint('card_number')
    )
    with op.batch_alter_table('card_states', schema=None) as batch_op:
        batch_op.create_index('ix_card_states_resident', ['resident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_states', schema=None) as batch_op:
        batch_op.drop_index('ix_card_states_resident')
    op.drop_table('card_states')
