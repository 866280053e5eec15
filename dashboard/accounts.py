"""Users and API tokens: the rules for creating and changing them, shared by the CLI and the web."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from dashboard import audit
from dashboard.extensions import db
from dashboard.models import ApiToken, User, ValidationError, utcnow


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


def set_role(username: str, role: str, actor: str = "cli") -> User:
    user = _existing(username)
    previous = user.role
    user.role = User.validate_role(role)
    audit.record(actor, "user.set_role", target=username, detail=f"{previous} -> {role}", commit=False)
    db.session.commit()
    return user


def set_disabled(username: str, disabled: bool, actor: str = "cli") -> User:
    user = _existing(username)
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


def create_token(name: str, role: str, actor: str = "cli") -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept."""
    if db.session.scalar(select(ApiToken).where(ApiToken.name == name)):
        raise ValidationError(f"a token named {name!r} already exists")
    token, secret = ApiToken.issue(name, role, created_by=actor)
    db.session.add(token)
    audit.record(actor, "token.create", target=name, detail=f"role={role}", commit=False)
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
    """The active token for `secret`, or None. Does not write: last use is not tracked on reads."""
    if not secret or not secret.startswith(ApiToken.PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(secret)))
    return token if token is not None and token.is_active else None
