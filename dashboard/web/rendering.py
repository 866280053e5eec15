"""One view, two renderings: the full page, or only the fragment HTMX asked for."""

from __future__ import annotations

from types import SimpleNamespace

from flask import flash, render_template, request

from dashboard.rqlayer.vocabulary import EXCEPTION_FILTER_STATES, JOB_ID_MAX, MAX_FILTER_CHARS, ORDERS, PAGE_SIZES

# Input lengths the forms allow, the same numbers the server enforces.
LIMITS = SimpleNamespace(job_id=JOB_ID_MAX, filter_chars=MAX_FILTER_CHARS)

# Flash categories: the view says what a message is; templates colour it from this map, never from
# the message's first words.
SUCCESS, WARNING, ERROR = "success", "warning", "error"
FLASH_BANNERS = {SUCCESS: "banner-ok", WARNING: "banner-warn", ERROR: "banner-danger"}


def notify(message: str, category: str = SUCCESS) -> None:
    """Flash `message` for the next page, with its category (SUCCESS, WARNING or ERROR)."""
    if category not in FLASH_BANNERS:
        raise ValueError(f"unknown flash category {category!r}")
    flash(message, category)


def _permission_names() -> SimpleNamespace:
    from dashboard import permissions

    return SimpleNamespace(
        **{name: value for name, value in vars(permissions).items() if name.isupper() and isinstance(value, str)}
    )


def template_context() -> dict:
    """What every template may read from Python instead of spelling it: permission names
    (`can(perm.JOBS_ACT)`), page sizes and orders, flash banner classes, the RQ capabilities and the
    decode policy of the app's front door."""
    from dashboard.extensions import get_console

    console = get_console()
    return {
        "perm": _permission_names(),
        "page_sizes": PAGE_SIZES,
        "orders": ORDERS,
        "exception_filter_states": EXCEPTION_FILTER_STATES,
        "flash_banners": FLASH_BANNERS,
        "limits": LIMITS,
        "capabilities": console.capabilities,
        "decode_policy": console.policy,
    }


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
