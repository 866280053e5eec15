"""One view, two renderings: the full page, or only the fragment HTMX asked for."""

from __future__ import annotations

from flask import render_template, request


def wants_fragment() -> bool:
    """An HTMX request (not a boosted navigation): answer with the fragment only, and read only what
    the fragment shows."""
    return bool(request.htmx and not request.htmx.boosted)


def page_or_partial(page_template: str, partial_template: str, /, **context) -> str:
    """Render the partial for an HTMX request (not a boosted navigation), else the full page,
    which includes the same partial. Use wants_fragment() first when the page needs reads the
    partial does not."""
    if wants_fragment():
        return render_template(partial_template, **context)
    return render_template(page_template, **context)
