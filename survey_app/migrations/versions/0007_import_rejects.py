"""import rejects: the rejected rows of a user's latest upload, for download

Revision ID: 0007_import_rejects
Revises: 0006_reminder_links
Create Date: 2026-11-23 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import survey_app.models


# revision identifiers, used by Alembic.
revision = '0007_import_rejects'
down_revision = '0006_reminder_links'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_rejects',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', survey_app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_rejects_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_import_rejects'))
    )
    with op.batch_alter_table('import_rejects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_rejects_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('import_rejects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_rejects_created_at'))

    op.drop_table('import_rejects')
