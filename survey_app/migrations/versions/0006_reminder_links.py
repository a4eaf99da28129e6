"""reminder links: a fresh random token per email

Revision ID: 0006_reminder_links
Revises: 0005_delivery_started
Create Date: 2026-11-23 03:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import survey_app.models


# revision identifiers, used by Alembic.
revision = '0006_reminder_links'
down_revision = '0005_delivery_started'
branch_labels = None
depends_on = None


def upgrade():
    # Invitations sent before this revision keep their stored hash, so their links go on working;
    # their reminders get links of their own from now on.
    op.create_table('reminder_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('invitation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', survey_app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_reminder_links_invitation_id_invitations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_reminder_links_token_hash'))
    )
    with op.batch_alter_table('reminder_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_links_invitation_id'), ['invitation_id'], unique=False)


def downgrade():
    # The reminders' links stop working; the first emails' links (invitations.token_hash) stay.
    with op.batch_alter_table('reminder_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_links_invitation_id'))

    op.drop_table('reminder_links')
