"""Containers record the ``hearth serve`` process holding their sandbox (``replica``), so
another replica reaches it there instead of taking it for gone.

Existing rows keep ``replica`` NULL: held by no process that still runs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("containers", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("replica", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.drop_column("replica")
