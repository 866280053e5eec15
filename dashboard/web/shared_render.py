"""One rendering of a polled fragment serves every operator who would see the same thing in its second.

Fifty operators polling the overview every 2 seconds already share one read of Redis (readcache.py); each
poll still rendered the fragment itself (2-3 ms of CPU with a few queues, 15-25 ms with a thousand) and
digested it for its ETag (conditional.py). `SharedRenders` keeps the rendered fragment while the reads it
was made from are the ones the request got (the same objects: a new read is a new rendering), for the
same `key` (the view's arguments and the principal's role, whatever else the template reads) and the same
address prefix (proxy prefix and instance: every link carries them).

The one per-session thing in a fragment is its CSRF tokens: the shared rendering holds a placeholder,
replaced by the request's own token on the way out, and the body's digest (without tokens, as
conditional.py digests it) is computed once and handed to the ETag of each request, which still mixes in
the principal, the session and the address. With `ttl` 0 (tests, OVERVIEW_CACHE_SECONDS=0) every request
renders, through the same path.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app, g, render_template, request
from flask_wtf.csrf import generate_csrf

from dashboard.rqlayer.readcache import ReadCache
from dashboard.web import conditional

# Unguessable, so no data in a page (a queue's name) can be mistaken for it.
_PLACEHOLDER = "csrf-" + secrets.token_hex(16)


class SharedRenders:
    def __init__(self, ttl: float) -> None:
        self.cache: ReadCache[tuple[str, bytes, tuple[object, ...]]] = ReadCache(ttl)

    def render(
        self, template: str, key: Hashable, sources: tuple[object, ...], context: Callable[[], dict[str, Any]]
    ) -> str:
        """`template` rendered with `context()`, or the rendering another request made from the same
        `sources` (compared by identity, and kept alive with the rendering so an identity is never reused
        meanwhile) under the same `key` and prefix, at most `ttl` seconds ago. Sets the body digest the
        poll's ETag uses."""

        def compute() -> tuple[str, bytes, tuple[object, ...]]:
            body = render_template(template, csrf_token=lambda: _PLACEHOLDER, **context())
            return body, conditional.body_digest(body.encode()), sources

        tag = tuple(id(source) for source in sources)
        body, digest, _kept = self.cache.get((template, request.script_root, key), compute, tag)
        g.poll_body_digest = digest
        return body.replace(_PLACEHOLDER, generate_csrf())


def shared_renders() -> SharedRenders:
    return current_app.extensions["shared_renders"]


def init_app(app) -> None:
    app.extensions["shared_renders"] = SharedRenders(app.config["CONSOLE"].overview_cache_seconds)
