"""The console's SQL database unavailable: pages that need only Redis keep working, and nothing that
must be audited is done unaudited.

- Signed-in users: every request loads its user from SQL (auth._load_user). Each successful load is
  remembered here in process memory (id, name, role, session version; never the password hash) for
  REMEMBER_SECONDS; while SQL fails, a session verified that recently keeps its role, so Redis pages
  still answer. Nothing is remembered across processes or restarts, and nothing widens access: a
  remembered user is one SQL confirmed a moment ago, and the fallback serves only while SQL errors.
- State changes (POST, PUT, PATCH, DELETE) first check that SQL answers (one SELECT 1): every action
  writes an audit row, so when SQL is down they are refused with 503 and a message, before anything in
  Redis changes. Sign-in needs SQL too and is refused the same way.
- A page that reads SQL itself (audit log, history, users) answers 503 with the same message, not 500.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import current_app, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from dashboard.extensions import db
from dashboard.models import User

REMEMBER_SECONDS = 15 * 60
MAX_REMEMBERED = 10_000
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MESSAGE = (
    "The console's database cannot be reached right now. Pages that read Redis still work; actions are"
    " refused until it is back, because they could not be written to the audit log."
)

_lock = threading.Lock()
_remembered: OrderedDict[str, tuple[float, dict]] = OrderedDict()


def remember(user: User) -> None:
    """Note that SQL just confirmed this session's user. Cost: one dict update under a lock."""
    fields = {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "session_version": user.session_version,
    }
    with _lock:
        _remembered[user.get_id()] = (time.monotonic(), fields)
        _remembered.move_to_end(user.get_id())
        while len(_remembered) > MAX_REMEMBERED:
            _remembered.popitem(last=False)


def remembered(session_id: str) -> User | None:
    """The user SQL confirmed for `session_id` within REMEMBER_SECONDS, as a detached User; else None."""
    with _lock:
        entry = _remembered.get(session_id)
    if entry is None or time.monotonic() - entry[0] > REMEMBER_SECONDS or entry[1]["disabled"]:
        return None
    return User(**entry[1])


def sql_answers() -> bool:
    """One SELECT 1 on the console's database; False (session rolled back) when it fails."""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False


def _refuse_unaudited_changes():
    if request.method in UNSAFE_METHODS and request.endpoint != "static" and not sql_answers():
        current_app.logger.warning("SQL database unreachable: refused %s %s", request.method, request.path)
        raise ServiceUnavailable(description=MESSAGE)
    return None


def init_app(app) -> None:
    """After auth.init_app (the user is known) and before the views; errors.py answers the 503s."""
    app.before_request(_refuse_unaudited_changes)
