"""one name per concept: the column holding the 宛名番号 is atena_no, as at the 統合宛名

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: (table, nullable) of every column renamed
COLUMNS = (("codes", False), ("acquisitions", False), ("journal", True), ("outgoing", False))


def _rename(old: str, new: str) -> None:
    for table, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(old, new_column_name=new,
                                  existing_type=sa.String(length=40),
                                  existing_nullable=nullable)


def upgrade() -> None:
    _rename('local_ref', 'atena_no')


def downgrade() -> None:
    _rename('atena_no', 'local_ref')
