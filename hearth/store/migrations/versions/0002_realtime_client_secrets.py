"""Ephemeral Realtime client secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "realtime_client_secrets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.String(length=64), nullable=False),
        sa.Column("session", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_realtime_client_secrets_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realtime_client_secrets")),
    )
    op.create_index(
        op.f("ix_realtime_client_secrets_secret_hash"),
        "realtime_client_secrets",
        ["secret_hash"],
        unique=True,
    )
    op.create_index(
        op.f("ix_realtime_client_secrets_api_key_id"),
        "realtime_client_secrets",
        ["api_key_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_realtime_client_secrets_expires_at"),
        "realtime_client_secrets",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_realtime_client_secrets_expires_at"), table_name="realtime_client_secrets"
    )
    op.drop_index(
        op.f("ix_realtime_client_secrets_api_key_id"), table_name="realtime_client_secrets"
    )
    op.drop_index(
        op.f("ix_realtime_client_secrets_secret_hash"), table_name="realtime_client_secrets"
    )
    op.drop_table("realtime_client_secrets")
