"""Ephemeral Realtime client secrets (``ek_...``; API reference: Realtime, "Client
secrets"): minted with an API key for a browser or phone, valid until ``expires_at``,
and only for opening Realtime sessions. As with API keys, only the sha256 is stored.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Principal
from hearth.store.api_keys import hash_secret
from hearth.store.models import ApiKey, Project, RealtimeClientSecret, now_unix

PREFIX = "ek_"


@dataclass(frozen=True)
class ClientSecret:
    """A verified secret: who minted it and the session settings it carries."""

    principal: Principal
    session: dict[str, Any]
    expires_at: int


class ClientSecretStore:
    """Mint and verify client secrets; expired ones are purged as new ones are minted."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, principal: Principal, session: dict[str, Any], expires_at: int) -> str:
        """Store a new secret for ``principal`` and return its plaintext (once)."""
        secret = PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as db:
            db.execute(
                delete(RealtimeClientSecret).where(RealtimeClientSecret.expires_at < now_unix())
            )
            db.add(
                RealtimeClientSecret(
                    id="cs_" + secrets.token_urlsafe(16),
                    secret_hash=hash_secret(secret),
                    api_key_id=principal.api_key_id,
                    session=json.dumps(session),
                    expires_at=expires_at,
                )
            )
        return secret

    def verify(self, secret: str) -> ClientSecret | None:
        """The secret's grant, or None if unknown, expired, or its API key is gone."""
        if not secret.startswith(PREFIX):
            return None
        digest = hash_secret(secret)
        stmt = (
            select(RealtimeClientSecret, ApiKey.project_id, Project.organization_id)
            .join(ApiKey, RealtimeClientSecret.api_key_id == ApiKey.id)
            .join(Project, ApiKey.project_id == Project.id)
            .where(RealtimeClientSecret.secret_hash == digest)
        )
        with self._sessions() as db:
            row = db.execute(stmt).one_or_none()
        if row is None:
            return None
        record, project_id, organization_id = row
        if not hmac.compare_digest(record.secret_hash, digest) or record.expires_at <= now_unix():
            return None
        return ClientSecret(
            Principal(organization_id, project_id, record.api_key_id),
            json.loads(record.session),
            record.expires_at,
        )
