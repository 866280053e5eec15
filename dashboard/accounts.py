"""Users and API tokens: the rules for creating and changing them, shared by the CLI and the web."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from werkzeug.security import check_password_hash

from dashboard import audit
from dashboard.extensions import db
from dashboard.models import ApiToken, User, ValidationError, dummy_password_hash, utcnow

# A token's last use is written at most this often: a write per API request would cost more than the read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def create_user(username: str, password: str, role: str, actor: str = "cli") -> User:
    """A new user; raises ValidationError for a taken name, a bad role or a short password."""
    username = User.validate_username(username)
    User.validate_role(role)
    if find_user(username):
        raise ValidationError(f"user {username!r} already exists")
    user = User(username=username, role=role)
    user.set_password(password)
    db.session.add(user)
    audit.record(actor, "user.create", target=username, detail=f"role={role}", commit=False)
    db.session.commit()
    return user


def ensure_admin(password: str | None = None) -> tuple[User, str] | None:
    """With no user at all, create `admin` and return it with its password (random unless given).
    Returns None when users exist: running it at every start changes nothing."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    password = password or secrets.token_urlsafe(15)
    return create_user("admin", password, "admin", actor="system"), password


def verify_credentials(username: str, password: str) -> User | None:
    """The user when `password` is theirs (disabled or not: the caller decides), else None.
    Cost: one password hash check whether or not the user exists, so the response time does not tell
    an attacker which usernames are real."""
    user = find_user(username) if username else None
    if user is None:
        check_password_hash(dummy_password_hash(), password or "-")
        return None
    return user if user.check_password(password) else None


def end_sessions(user: User) -> None:
    """End every session of `user` now (all browsers); one UPDATE, committed."""
    db.session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
    db.session.commit()
    db.session.refresh(user)


def set_role(username: str, role: str, actor: str = "cli") -> User:
    user = _existing(username)
    previous = user.role
    user.role = User.validate_role(role)
    if role != previous:
        user.end_sessions()
    audit.record(actor, "user.set_role", target=username, detail=f"{previous} -> {role}", commit=False)
    db.session.commit()
    return user


def set_disabled(username: str, disabled: bool, actor: str = "cli") -> User:
    user = _existing(username)
    if user.disabled != disabled:
        user.end_sessions()
    user.disabled = disabled
    audit.record(actor, "user.disable" if disabled else "user.enable", target=username, commit=False)
    db.session.commit()
    return user


def set_password(username: str, password: str, actor: str = "cli") -> User:
    user = _existing(username)
    user.set_password(password)
    audit.record(actor, "user.set_password", target=username, commit=False)
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def _existing(username: str) -> User:
    user = find_user(username)
    if user is None:
        raise ValidationError(f"no user named {username!r}")
    return user


def create_token(
    name: str, role: str, actor: str = "cli", creator: User | None = None, expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept. With `creator`, the
    token works only while that account is enabled; with `expires_in`, it stops working after it."""
    if db.session.scalar(select(ApiToken).where(ApiToken.name == name)):
        raise ValidationError(f"a token named {name!r} already exists")
    expires_at = utcnow() + expires_in if expires_in is not None else None
    token, secret = ApiToken.issue(name, role, created_by=actor, creator=creator, expires_at=expires_at)
    db.session.add(token)
    detail = f"role={role}" + (f" expires={expires_at:%Y-%m-%d %H:%M}" if expires_at else "")
    audit.record(actor, "token.create", target=name, detail=detail, commit=False)
    db.session.commit()
    return token, secret


def revoke_token(name: str, actor: str = "cli") -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise ValidationError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(actor, "token.revoke", target=name, commit=False)
        db.session.commit()
    return token


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.name)))


def authenticate_token(secret: str) -> ApiToken | None:
    """The usable token for `secret` (not revoked, not expired, its creator not disabled), or None.
    Cost: one indexed read; at most one small UPDATE a minute per token to record its last use."""
    if not secret or not secret.startswith(ApiToken.PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(secret)))
    if token is None or not token.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so that several console processes serving the same token write once between them.
        db.session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
        )
        db.session.commit()
    return token
