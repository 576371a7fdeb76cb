"""published pairings: a table of each school's current partners per role, replacing two school columns

A school may have up to two Enterprise Advisers, so its current partners are rows, not a column: ``pairings``
holds each published pairing with the round that published it and its lock. Existing data is carried across:
``current_adviser`` becomes one adviser row, each of ``current_cornerstones`` one Cornerstone row, attributed to
the hub's latest published round (None when it has none).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:35:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pairings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hub_id", sa.String(length=64), nullable=False),
        sa.Column("school_pk", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["hub_id"], ["hubs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["school_pk"], ["schools.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_pk", "role", "partner_id"),
    )
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pairings_hub_id"), ["hub_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pairings_school_pk"), ["school_pk"], unique=False)
    _carry_columns_into_rows()
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("current_cornerstones")
        batch_op.drop_column("current_adviser")


def _carry_columns_into_rows() -> None:
    """One pairings row per current adviser and per current Cornerstone Employer of every school."""
    bind = op.get_bind()
    schools = sa.table(
        "schools",
        sa.column("pk", sa.Integer),
        sa.column("hub_id", sa.String),
        sa.column("current_adviser", sa.String),
        sa.column("current_cornerstones", sa.JSON),
    )
    rounds = sa.table(
        "rounds", sa.column("id", sa.Integer), sa.column("hub_id", sa.String), sa.column("state", sa.String)
    )
    pairings = sa.table(
        "pairings",
        sa.column("hub_id", sa.String),
        sa.column("school_pk", sa.Integer),
        sa.column("role", sa.String),
        sa.column("partner_id", sa.String),
        sa.column("round_id", sa.Integer),
        sa.column("locked", sa.Boolean),
    )
    published = dict(
        bind.execute(
            sa.select(rounds.c.hub_id, sa.func.max(rounds.c.id))
            .where(rounds.c.state == "published")
            .group_by(rounds.c.hub_id)
        ).all()
    )
    rows = []
    for pk, hub_id, adviser, cornerstones in bind.execute(
        sa.select(schools.c.pk, schools.c.hub_id, schools.c.current_adviser, schools.c.current_cornerstones)
    ):
        current = ([("adviser", adviser)] if adviser else []) + [("cornerstone", c) for c in cornerstones or []]
        for role, partner in dict.fromkeys(current):
            rows.append(
                {
                    "hub_id": hub_id,
                    "school_pk": pk,
                    "role": role,
                    "partner_id": partner,
                    "round_id": published.get(hub_id),
                    "locked": False,
                }
            )
    if rows:
        bind.execute(pairings.insert(), rows)


def downgrade() -> None:
    """Back to the two columns: the first current adviser survives (the old shape holds one), all Cornerstones."""
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("current_adviser", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("current_cornerstones", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    schools = sa.table(
        "schools", sa.column("pk", sa.Integer), sa.column("current_adviser", sa.String),
        sa.column("current_cornerstones", sa.JSON),
    )
    pairings = sa.table(
        "pairings", sa.column("id", sa.Integer), sa.column("school_pk", sa.Integer), sa.column("role", sa.String),
        sa.column("partner_id", sa.String),
    )
    current: dict[int, dict] = {}
    for pk, role, partner in bind.execute(
        sa.select(pairings.c.school_pk, pairings.c.role, pairings.c.partner_id).order_by(pairings.c.id)
    ):
        entry = current.setdefault(pk, {"current_adviser": None, "current_cornerstones": []})
        if role == "adviser":
            entry["current_adviser"] = entry["current_adviser"] or partner
        else:
            entry["current_cornerstones"].append(partner)
    for pk, values in current.items():
        bind.execute(schools.update().where(schools.c.pk == pk).values(**values))
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairings_school_pk"))
        batch_op.drop_index(batch_op.f("ix_pairings_hub_id"))
    op.drop_table("pairings")
