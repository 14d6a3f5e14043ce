"""certificates.holder_ref is J-LIS's person key: call it person_key

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 14:00:00

One name per concept (docs/glossary.md): the value JPKI called ``holder_ref`` is
the person key J-LIS keeps for every person.  The column and its index are
renamed; the values stay as they are.  ``batch_alter_table`` rebuilds the table
on SQLite and issues ALTER TABLE … RENAME COLUMN on PostgreSQL.
"""

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_holder')
        batch_op.alter_column('holder_ref', new_column_name='person_key')
    # the index on the renamed column in a second batch: the first one rebuilds the table
    # from its old reflection, which knows no column person_key yet
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_person', ['person_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_person')
        batch_op.alter_column('person_key', new_column_name='holder_ref')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_holder', ['holder_ref'], unique=False)
