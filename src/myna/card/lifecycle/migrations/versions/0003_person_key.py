"""holder_ref is J-LIS's person key: call it person_key (docs/glossary.md)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 10:30:00

The column is renamed in place (ALTER TABLE … RENAME COLUMN, on SQLite ≥ 3.25 as on
PostgreSQL): ``recreate="never"`` keeps SQLite from copying the tables, which
other tables reference while foreign keys are enforced.
"""

from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> None:
    with op.batch_alter_table('applications', recreate='never') as batch_op:
        batch_op.drop_index(f'ix_applications_{old}')
        batch_op.alter_column(old, new_column_name=new)
        batch_op.create_index(f'ix_applications_{new}', [new], unique=False)
    old_index, new_index = {'holder_ref': ('ix_cards_holder', 'ix_cards_person_key'),
                            'person_key': ('ix_cards_person_key', 'ix_cards_holder')}[old]
    with op.batch_alter_table('cards', recreate='never') as batch_op:
        batch_op.drop_index(old_index)
        batch_op.alter_column(old, new_column_name=new)
        batch_op.create_index(new_index, [new], unique=False)


def upgrade() -> None:
    _rename('holder_ref', 'person_key')


def downgrade() -> None:
    _rename('person_key', 'holder_ref')
