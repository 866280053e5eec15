"""Where a name leads: the URL of what a template or a message names (a job, a worker, a queue's tab, an
audit target). Pure helpers over url_for; templates reach them as globals (registered by workers.py).

Lists build links from one prefix per page (`worker_base`), never url_for per row; these helpers are for
a handful of links a page (messages, totals, audit rows)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from flask import request, url_for
from markupsafe import Markup
from werkzeug.routing import BuildError

from dashboard.profiles import acted_on, on_instance
from dashboard.rqlayer.overview import Overview
from dashboard.rqlayer.vocabulary import lookup_queue_name, valid_job_id

# Totals of the whole Redis that have a page of their own, across queues.
_TOTAL_PAGES: dict[str, str] = {"failed": "queues.failed", "scheduled": "schedules.index"}


def url_quoted(name: str) -> str:
    """`name` as a URL path segment (the |url_quoted filter): rows write `worker_base ~ name | url_quoted`
    (or `job_base ~ id | url_quoted`), one cached lookup a row instead of url_for or urlencode's work.
    Only short names are cached: a planted megabyte-long one must not stay in memory 512 times."""
    return _quoted(name) if len(name) <= 256 else quote(name, safe="")


@lru_cache(maxsize=512)  # bounded: a list names few workers and functions; job ids come and go
def _quoted(name: str) -> str:
    return quote(name, safe="")


def here_url(query: bool = True) -> str:
    """This page's own address as the browser sees it: the proxy prefix and the instance (SCRIPT_NAME,
    dashboard/profiles.py) included, the path's escapes kept, and the query string unless `query` is
    False. `request.path` / `request.full_path` are the path inside the app, without either: a form
    posting back there, or a `next=` made of them, lands on the default instance or outside the prefix."""
    url = None
    if request.url_rule is not None and request.endpoint:
        try:
            url = url_for(request.endpoint, **(request.view_args or {}))
        except BuildError:  # a rule that matches but cannot be built back: the path below
            url = None
    if url is None:  # no route matched (a 404 page): the path as it came, quoted again
        url = request.script_root + quote(request.path, safe="/@:!$&'()*+,;=~")
    raw = request.query_string.decode("latin-1")
    return f"{url}?{raw}" if query and raw else url


def job_link(job_id: str) -> Markup:
    """The job id as a link to its page, for messages: `<a class="job-link" href="/jobs/<id>">id</a>`."""
    return Markup('<a class="job-link mono" href="{}">{}</a>').format(url_for("jobs.detail", job_id=job_id), job_id)


def job_message(job_id: str, before: str, after: str = "") -> Markup:
    """A message naming a job: `before` + the id as a link + `after`, the texts escaped."""
    return Markup("{}{}{}").format(before, job_link(job_id), after)


def naming_job(job_id: str, message: str) -> Markup:
    """An action's message naming its job as a link: a leading "Job <id>" becomes "Job <link>"; any other
    message gets "Job <link>: " in front. `message` is text (escaped here); Markup passes as it is."""
    if isinstance(message, Markup):
        return message
    lead = f"Job {job_id}"
    if message.startswith(lead):
        return job_message(job_id, "Job ", message[len(lead) :])
    return job_message(job_id, "Job ", ": " + message)


def function_link(name: str) -> Markup:
    """A function's name as a link to its page (/functions/<name>, any string quoted as one segment)."""
    href = url_for("functions.index") + "/" + url_quoted(name)
    return Markup('<a class="function-link mono" href="{}">{}</a>').format(href, name)


def worker_link(name: str) -> Markup:
    """A worker's name as a link to its page, for messages."""
    return Markup('<a class="worker-link mono" href="{}">{}</a>').format(url_for("workers.detail", name=name), name)


def total_href(overview: Overview, state: str) -> str | None:
    """Where the overview's total of `state` leads: its own page (failed, scheduled), else the state's
    tab of the one queue holding such jobs; None when several queues share it (their row links)."""
    if state in _TOTAL_PAGES:
        return url_for(_TOTAL_PAGES[state])
    holders = [q.name for q in overview.queues if q.counts.get(state)]
    if len(holders) == 1 or (not holders and len(overview.queues) == 1):
        return url_for("queues.state", name=(holders or [overview.queues[0].name])[0], state=state)
    return None


def audit_target_href(action: str, target: str | None, detail: str | None = None) -> str | None:
    """The page of an audit entry's target, on the instance it was acted on (its `detail` names it, the
    log being shared by every instance), else on this page's; see _target_href."""
    href = _target_href(action, target)
    instance = acted_on(detail) if href else None
    return on_instance(href, instance) if href and instance else href


def _target_href(action: str, target: str | None) -> str | None:
    """The page of an audit entry's target, by the kind its action names: job.* a job (a batch: its
    task's form), schedule.* a schedule's row, worker.* a worker, bulk.* / queue.* a queue. None for
    targets without a page (accounts, tokens, operations) or that no such thing could have."""
    if not target:
        return None
    kind = action.split(".", 1)[0]
    if action == "job.enqueue_batch":
        return url_for("enqueue.form", task_name=target)
    if kind == "job" and valid_job_id(target):
        return url_for("jobs.detail", job_id=target)
    if kind == "schedule" and valid_job_id(target):
        return url_for("schedules.index") + "#schedule-" + target
    if kind == "worker" and lookup_queue_name(target):
        return url_for("workers.detail", name=target)
    if kind in ("bulk", "queue", "jobs") and lookup_queue_name(target) and action != "bulk.cancel":
        return url_for("queues.state", name=target, state="queued")
    return None
