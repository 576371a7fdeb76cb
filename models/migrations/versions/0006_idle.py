"""idle partners: the willing advisers and Cornerstone Employers a round's last solve gave no school, and why

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("distance_km", sa.Float(), nullable=True),
        sa.Column("distance_band", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("idle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idle_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idle_round_id"))
    op.drop_table("idle")
