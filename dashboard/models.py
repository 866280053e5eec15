"""The console's own tables: users, API tokens and the audit log. RQ's data stays in Redis."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

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


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_TOKEN_LIFETIME = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """'90m', '12h', '30d', '2w' -> a timedelta; anything else (or longer than ten years) is refused."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValidationError(f"expiry must look like 90m, 12h, 30d or 2w, got {text!r}")
    span = timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < span <= MAX_TOKEN_LIFETIME:
        raise ValidationError("expiry must be more than 0 and at most 10 years")
    return span


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(USERNAME_MAX), unique=True, nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    role = db.Column(db.String(16), nullable=False, default="viewer")
    disabled = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_login_at = db.Column(db.DateTime)
    # Part of every session cookie and checked on every request: bumping it ends all of the user's
    # sessions at once (sign-out, password, role or status change), although the cookies are client-side.
    session_version = db.Column(db.Integer, nullable=False, default=1, server_default="1")

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
        self.end_sessions()

    def end_sessions(self) -> None:
        """Invalidate every session cookie issued to this user so far (committed by the caller)."""
        self.session_version = (self.session_version or 1) + 1

    def check_password(self, password: str) -> bool:
        return bool(password) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return not self.disabled

    def get_id(self) -> str:
        # The session version is part of the session id: bumping it makes every older cookie unknown.
        return f"{self.id}:{self.session_version or 1}"


def dummy_password_hash() -> str:
    """A hash of a random password made like real ones (same algorithm and cost): checking an unknown
    user's password against it takes as long as checking a known user's."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


_DUMMY_HASH: str | None = None


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), unique=True, nullable=False)
    token_hash = db.Column(db.String(64), unique=True, nullable=False)
    role = db.Column(db.String(16), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_by = db.Column(db.String(USERNAME_MAX))
    # The account that made it from the web (None from the CLI): disabling that account disables the token.
    created_by_user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True)
    revoked_at = db.Column(db.DateTime)
    expires_at = db.Column(db.DateTime)
    last_used_at = db.Column(db.DateTime)

    PREFIX = "rqc_"

    @staticmethod
    def hash(token: str) -> str:
        # Tokens are 256 random bits: a fast hash is enough, and lookups stay indexable.
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        name: str,
        role: str,
        created_by: str | None = None,
        creator: User | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token row and the secret to show once; only its hash is stored."""
        name = User.validate_username(name)
        User.validate_role(role)
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls(
            name=name,
            token_hash=cls.hash(secret),
            role=role,
            created_by=created_by,
            created_by_user_id=creator.id if creator is not None else None,
            expires_at=expires_at,
        )
        return token, secret

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    # Joined in the same query: checking the creator costs no second round trip.
    creator = db.relationship(User, lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def status(self) -> str:
        """active, revoked, expired, or "creator disabled" (a token lives only while its web creator may)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired:
            return "expired"
        if self.creator is not None and self.creator.disabled:
            return "creator disabled"
        return "active"


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
    # Aggregated rows (refused anonymous sign-ins) stand for `repeats` events, the last one at `last_at`.
    repeats = db.Column(db.Integer, nullable=False, default=1, server_default="1")
    last_at = db.Column(db.DateTime)

    __table_args__ = (db.Index("ix_audit_events_actor_at", "actor", "at"), db.Index("ix_audit_events_target", "target"))

    @property
    def at_utc(self) -> datetime:
        return self.at.replace(tzinfo=UTC)
