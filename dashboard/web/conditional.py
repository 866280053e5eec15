"""Polls that find nothing new send nothing: a validator on every polled fragment, 304 while it matches.

Every self-refreshing region ([data-poll], and the bulk progress bar) sends `X-Console-Poll: 1`. Its 200
answer gets a weak ETag, a digest of what the operator would see, and `Cache-Control: private, no-cache`
(instead of the no-store of other pages): the browser keeps the fragment, revalidates it on the next poll
with If-None-Match by itself, and on a 304 hands htmx the body it kept, so an unchanged poll transfers
headers only. `Vary: HX-Request, X-Console-Poll, Cookie` keeps the fragment from ever answering a full-page
navigation of the same address.

What the digest covers, and why:
- the request's address with its query and script root (a filter, a page or another instance under
  /@<profile> is another answer);
- who asks and in which session: the principal's kind, name and role, and the session's CSRF secret, so
  another user (or a new session of the same user) never matches an ETag it did not get, and a role
  change re-renders; nothing here is shared between users (`private`);
- the rendered body, minus what changes on every render without the data changing: the text inside
  `<time>` elements (relative times such as "12 s ago"; the datetime attribute stays in the digest, and
  time.js re-renders the text of every inserted `<time>` from it, a cached body included), elements marked
  `data-volatile` (the live stamp "updated 12:00:01", the moment of the read, and Redis's memory and uptime,
  which move on every read) and CSRF token values (signed with a timestamp, so they differ every second;
  the session's secret they sign is in the digest, and they never expire: WTF_CSRF_TIME_LIMIT=None);
- the current minute (STALEST_SECONDS): the volatile parts are never more than a minute old. After a 304
  the topbar's live indicator still says when the region was last confirmed.

Cost: one SHA-256 over the fragment (tens of microseconds for 100 KB) and three regular-expression passes.
The fragment is still read and rendered, and htmx swaps the kept body in again: a 304 saves the transfer.
"""

from __future__ import annotations

import hashlib
import re
import time

from flask import Flask, Response, g, request, session

from dashboard.auth import POLL_HEADER, current_principal

CACHE_CONTROL = "private, no-cache"
VARY = ("HX-Request", POLL_HEADER, "Cookie")
# One attribute as Jinja writes it, its quoted value read whole: "data-volatile" inside a value (a hostile
# queue or worker name in a title) is not the attribute, and a name repeating it cannot make the search
# backtrack over it once per repetition (that was quadratic: 13 s for one 280 KB name).
_ATTRIBUTE = rb"""\s+[\w:.-]+(?:="[^"]*"|='[^']*')?"""
_VOLATILE = (
    (re.compile(rb"(<time\b[^>]*>)[^<]*(</time>)"), rb"\1\2"),
    (
        re.compile(
            rb"<(\w+)(?:" + _ATTRIBUTE + rb")*?\s+data-volatile(?:=\"[^\"]*\")?(?:" + _ATTRIBUTE + rb")*\s*>"
            rb"(?:[^<]|<time\b[^>]*>[^<]*</time>)*</\1>"
        ),
        b"",
    ),
    (re.compile(rb'(name="csrf_token" value=")[^"]*(")'), rb"\1\2"),
)
STALEST_SECONDS = 60  # a kept body is revalidated at least this often, volatile parts included
clock = time.time  # the minute's source (tests pin it)


def body_digest(body: bytes) -> bytes:
    """The digest of what an operator would see in `body`: its volatile parts left out (see above)."""
    for pattern, replacement in _VOLATILE:
        body = pattern.sub(replacement, body)
    return hashlib.sha256(body).digest()


def validator(body: bytes, digested: bytes | None = None) -> str:
    """The ETag value of `body` for the current request's principal, session and address; `digested` is
    body_digest(body) when the caller has it already (a shared rendering: shared_render.py)."""
    principal = current_principal()
    who = f"{principal.kind}:{principal.name}:{principal.role}" if principal else "anonymous"
    digest = hashlib.sha256()
    minute = str(int(clock() // STALEST_SECONDS))
    for part in (request.script_root + request.full_path, who, str(session.get("csrf_token", "")), minute):
        digest.update(part.encode() + b"\x00")
    digest.update(digested if digested is not None else body_digest(body))
    return digest.hexdigest()[:32]


def is_poll() -> bool:
    return request.method == "GET" and bool(request.headers.get(POLL_HEADER))


def revalidate(response: Response) -> Response:
    """after_request: a polled fragment's 200 gets its ETag and private no-cache; a matching
    If-None-Match turns it into a 304 without a body. Anything else passes untouched."""
    if not is_poll() or response.status_code != 200 or response.mimetype != "text/html":
        return response
    if response.direct_passthrough or response.is_streamed:  # a body made as it is sent: never buffered here
        return response
    tag = validator(response.get_data(), g.get("poll_body_digest"))
    response.set_etag(tag, weak=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.vary.update(VARY)
    if request.if_none_match.contains_weak(tag):
        response.status_code = 304
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
    return response


def init_app(app: Flask) -> None:
    """Register before security.init_app: hooks run in reverse order, so this one runs after the
    security headers' no-store and replaces it on polled fragments only."""
    app.after_request(revalidate)
