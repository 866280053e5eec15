"""The console's own tables: users, API tokens and the audit log. RQ's data stays in Redis."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.extensions import db
from dashboard.permissions import ROLES

USERNAME_MAX = 64
MIN_PASSWORD_LENGTH = 10


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ValidationError(ValueError):
    """A value a model refuses; the message is meant for the operator."""


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(USERNAME_MAX), unique=True, nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    role = db.Column(db.String(16), nullable=False, default="viewer")
    disabled = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_login_at = db.Column(db.DateTime)

    @staticmethod
    def validate_username(name: str) -> str:
        name = (name or "").strip()
        if not name or len(name) > USERNAME_MAX:
            raise ValidationError(f"username must be 1 to {USERNAME_MAX} characters")
        if not all(c.isalnum() or c in "._-@" for c in name):
            raise ValidationError("username may contain letters, digits and . _ - @ only")
        return name

    @staticmethod
    def validate_role(role: str) -> str:
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}")
        return role

    @staticmethod
    def validate_password(password: str) -> str:
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        return password

    def set_password(self, password: str) -> None:
        # Werkzeug 3 defaults to scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(self.validate_password(password))

    def check_password(self, password: str) -> bool:
        return bool(password) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return not self.disabled

    def get_id(self) -> str:
        # The password hash is part of the session id: changing the password ends old sessions.
        return f"{self.id}:{self.password_hash[-12:]}"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), unique=True, nullable=False)
    token_hash = db.Column(db.String(64), unique=True, nullable=False)
    role = db.Column(db.String(16), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_by = db.Column(db.String(USERNAME_MAX))
    revoked_at = db.Column(db.DateTime)

    PREFIX = "rqc_"

    @staticmethod
    def hash(token: str) -> str:
        # Tokens are 256 random bits: a fast hash is enough, and lookups stay indexable.
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, role: str, created_by: str | None = None) -> tuple[ApiToken, str]:
        """A new token row and the secret to show once; only its hash is stored."""
        name = User.validate_username(name)
        User.validate_role(role)
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        return cls(name=name, token_hash=cls.hash(secret), role=role, created_by=created_by), secret

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id = db.Column(db.Integer, primary_key=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    actor = db.Column(db.String(USERNAME_MAX + 8), nullable=False)
    action = db.Column(db.String(64), nullable=False, index=True)
    target = db.Column(db.String(512))
    job_count = db.Column(db.Integer)
    outcome = db.Column(db.String(16), nullable=False, default="ok")
    detail = db.Column(db.Text)
    remote_addr = db.Column(db.String(64))
    duration_ms = db.Column(db.Integer)

    __table_args__ = (db.Index("ix_audit_events_actor_at", "actor", "at"), db.Index("ix_audit_events_target", "target"))

    @property
    def at_utc(self) -> datetime:
        return self.at.replace(tzinfo=UTC)
