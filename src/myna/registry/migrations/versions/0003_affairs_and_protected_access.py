"""affairs a view is for, who sees numbers, approvals to open 支援措置 records

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 10:00:00

The tables start with the catalogue's defaults (``myna.registry.affairs`` as of
this revision, written out here so that a later change of defaults needs its own
revision): every role performs 住民基本台帳事務; clerks and supervisors perform the
other affairs; only supervisors see full numbers.
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_CLERKS_AND_SUPERVISORS = (
    'my-number', 'local-tax', 'child-allowance', 'childcare', 'national-health-insurance',
    'long-term-care', 'public-assistance', 'child-rearing-allowance', 'disability-support',
)


def upgrade() -> None:
    affair_roles = op.create_table('affair_roles',
    sa.Column('affair_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('affair_id', 'role')
    )
    number_roles = op.create_table('number_roles',
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('role')
    )
    op.create_table('protected_access',
    sa.Column('request_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.String(length=50), nullable=False),
    sa.Column('affair_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.String(length=50), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.resident_id'], ),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('protected_access', schema=None) as batch_op:
        batch_op.create_index('ix_protected_access_resident', ['resident_id'], unique=False)
        batch_op.create_index('ix_protected_access_staff', ['staff_id'], unique=False)
    rows = [{'affair_id': 'resident-registry', 'role': role}
            for role in ('clerk', 'supervisor', 'administrator')]
    rows += [{'affair_id': affair, 'role': role} for affair in _CLERKS_AND_SUPERVISORS
             for role in ('clerk', 'supervisor')]
    op.bulk_insert(affair_roles, rows)
    op.bulk_insert(number_roles, [{'role': 'supervisor'}])


def downgrade() -> None:
    with op.batch_alter_table('protected_access', schema=None) as batch_op:
        batch_op.drop_index('ix_protected_access_staff')
        batch_op.drop_index('ix_protected_access_resident')
    op.drop_table('protected_access')
    op.drop_table('number_roles')
    op.drop_table('affair_roles')
