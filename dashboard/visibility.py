"""What each role may see of a job's data: one policy, applied by every view before it renders.

Read models come out of the RQ layer whole; the views pass them through `Visibility` (built from the
request's permissions) and render, serialise or export only what comes back. Templates therefore hold
no role logic for values: a hidden value arrives as the HIDDEN marker (or a Shown with format "hidden").

Without `jobs.view_values` (viewers when HIDE_JOB_VALUES_FROM_VIEWERS=true) a role sees:
- ids, function names (the job's and its callbacks'), queues, statuses, registries, worker names;
- times, durations, TTLs, timeouts, retry counts and intervals, group id, concurrency limit name;
- dependency and dependent ids with their statuses;
- the exception TYPE, and of a traceback only its structure: the "Traceback" headers, the frame lines
  (file, line number, function) and each exception's type;
- progress as a percentage (a number the job chose to publish, about as telling as its state);
- schedules' timing (cron string, interval, next and last run, outcome) and task names;
- of a webhook, its scheme and host, the status it fires on, its method and header names, never the
  path or query.
It does not see: args, kwargs, the description (RQ writes the call with its arguments into it), the
exception message and every other traceback line (source lines, chained messages, locals that some
formatters add), results, meta (other than the progress percentage), schedule arguments. Searching is
held to the same line: filters match what the role would see, never the hidden text.

Nobody sees webhook header values (or URL passwords and query values): the RQ layer drops them when it
reads the field (rqlayer/job_webhooks.py), since headers carry tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

from dashboard.rqlayer.job_webhooks import JobWebhooks
from dashboard.rqlayer.jobdetail import Attempt, JobDetail, Progress
from dashboard.rqlayer.jobs import Failure, JobRow
from dashboard.rqlayer.payloads import JobCall, Shown
from dashboard.rqlayer.schedules import CronProcess, QueueScheduled, Schedule, ScheduleBook
from dashboard.rqlayer.search import FailureGroups, JobFilter

HIDDEN = "(hidden)"
HIDDEN_VALUE = Shown(text=None, safe=False, format="hidden", size=0, note="hidden for your role")

_FRAME = re.compile(r'^\s+File "[^"\n]*", line \d+(, in [^\s]+)?$')
_EXC_TYPE = re.compile(r"^[A-Za-z_][\w.]*$")
_STRUCTURE = (
    "Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def is_hidden(value) -> bool:
    """True for a value this policy replaced (a text or a Shown): templates style it as such."""
    return value == HIDDEN or (isinstance(value, Shown) and value.format == "hidden")


def redact_traceback(tb: str) -> str:
    """Only the skeleton of a traceback: headers, frame lines and exception types. The first unindented
    line after the frames is the exception line ("Type: message"); everything after it up to the next
    header may be the rest of its message, so it goes too. Cost: linear in the text."""
    out: list[str] = []
    expect_exception = True
    for line in tb.splitlines():
        stripped = line.strip()
        if stripped in _STRUCTURE:
            out.append(stripped)
            expect_exception = True
        elif _FRAME.match(line):
            out.append(line)
            expect_exception = True
        elif stripped and not line[:1].isspace() and expect_exception:
            exc_type, sep, _ = stripped.partition(":")
            if _EXC_TYPE.match(exc_type):
                out.append(f"{exc_type}: {HIDDEN}" if sep else exc_type)
            else:
                out.append(HIDDEN)
            expect_exception = False
        # Anything else (source lines, carets, locals, the rest of a message) is dropped.
    return "\n".join(out)


def _host_only(url) -> str:
    if not isinstance(url, str):
        return HIDDEN
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return HIDDEN
    return f"{parts.scheme}://{host}/…" if parts.scheme and host else HIDDEN


class VisibleFilter(JobFilter):
    """A filter that matches rows as the role would see them: hidden text can never be matched, so it
    cannot be guessed one search at a time."""

    def __init__(self, base: JobFilter, visibility: Visibility) -> None:
        super().__init__(**{f.name: getattr(base, f.name) for f in fields(base)})
        object.__setattr__(self, "_visibility", visibility)

    def matches(self, row: JobRow) -> bool:
        return self.matches_group(row) and self.matches_text(self._visibility.row(row))


@dataclass(frozen=True)
class Visibility:
    """The policy for one principal. `values`: may see argument/result values (jobs.view_values).
    Every method returns a redacted copy (or the model itself when nothing is hidden) and never touches Redis."""

    values: bool

    @classmethod
    def everything(cls) -> Visibility:
        return cls(values=True)

    def text(self, value: str) -> str:
        return value if self.values or not value else HIDDEN

    def shown(self, value: Shown | None) -> Shown | None:
        if value is None or self.values or value.format == "empty":
            return value
        return HIDDEN_VALUE

    def failure(self, failure: Failure | None) -> Failure | None:
        if failure is None or self.values:
            return failure
        return replace(failure, message=self.text(failure.message))

    def row(self, row: JobRow) -> JobRow:
        if self.values or not row.exists:
            return row
        return replace(
            row,
            args_preview=self.text(row.args_preview),
            args_safe=True,
            description=self.text(row.description),
            failure=self.failure(row.failure),
        )

    def rows(self, rows: list[JobRow]) -> list[JobRow]:
        return [self.row(r) for r in rows]

    def progress(self, progress: Progress | None) -> Progress | None:
        if progress is None or self.values:
            return progress
        if progress.percent is None:
            return None
        return Progress(percent=progress.percent, done=None, total=None, label=f"{progress.percent:.0f} %")

    def call(self, call: JobCall) -> JobCall:
        if self.values:
            return call
        return replace(call, args=self.shown(call.args), kwargs=self.shown(call.kwargs), note="")

    def attempt(self, attempt: Attempt) -> Attempt:
        if self.values:
            return attempt
        return replace(attempt, traceback=redact_traceback(attempt.traceback), result=self.shown(attempt.result))

    def webhooks(self, hooks: JobWebhooks) -> JobWebhooks:
        """Header values are never in the model; without values, each URL shrinks to scheme and host."""
        if self.values or not hooks:
            return hooks
        return replace(hooks, hooks=tuple(replace(h, url=_host_only(h.url)) for h in hooks.hooks))

    def job(self, job: JobDetail) -> JobDetail:
        if self.values:
            return job
        text_fields = {k: (self.text(v) if k == "description" else v) for k, v in job.fields.items()}
        return replace(
            job,
            row=self.row(job.row),
            call=self.call(job.call),
            fields=text_fields,
            meta=self.shown(job.meta),
            progress=self.progress(job.progress),
            attempts=[self.attempt(a) for a in job.attempts],
            traceback=redact_traceback(job.traceback),
            result=self.shown(job.result),
            webhooks=self.webhooks(job.webhooks),
        )

    def job_filter(self, job_filter: JobFilter) -> JobFilter:
        if self.values or not job_filter.active:
            return job_filter
        return VisibleFilter(job_filter, self)

    def failure_groups(self, groups: FailureGroups) -> FailureGroups:
        if self.values:
            return groups
        hide = [replace(g, newest_message=self.text(g.newest_message)) for g in groups.by_exception]
        by_function = [replace(g, newest_message=self.text(g.newest_message)) for g in groups.by_function]
        return replace(groups, by_exception=hide, by_function=by_function)

    def schedule(self, schedule: Schedule) -> Schedule:
        if self.values:
            return schedule
        return replace(
            schedule,
            args_preview=self.text(schedule.args_preview),
            args_safe=True,
            description=self.text(schedule.description),
            kwargs=None,
            args=None,
        )

    def schedule_book(self, book: ScheduleBook) -> ScheduleBook:
        if self.values:
            return book
        each = self.schedule
        return replace(
            book,
            recurring=[each(s) for s in book.recurring],
            one_offs=[each(s) for s in book.one_offs],
            paused=[each(s) for s in book.paused],
            queues=[self._queue_scheduled(q) for q in book.queues],
            cron_processes=[self._cron_process(p) for p in book.cron_processes],
        )

    def _queue_scheduled(self, queue: QueueScheduled) -> QueueScheduled:
        return replace(queue, next_due=[self.schedule(s) for s in queue.next_due])

    def _cron_process(self, process: CronProcess) -> CronProcess:
        return replace(process, jobs=[self.schedule(s) for s in process.jobs])
