"""The front door to the RQ layer: one `Console` per app; views, the API, the CLI and tests use its parts.

    console = Console(connection, unsafe=settings.unsafe_unpickle, redis_url=settings.redis_url)
    # in a view: console = dashboard.extensions.get_console()

What it holds
    console.connection     the redis.Redis client (bytes, short timeouts) — for the layer, not for views
    console.prefix         RQ's key prefix (keys.PREFIX, from RQ_KEY_PREFIX)
    console.policy         DecodePolicy(unsafe=...): whether job data may be unpickled without limits.
                           Parts pass it on; no caller spells `unsafe=` any more.
    console.tasks          TaskCatalogue: .all() -> list[TaskSpec], .get(name) -> TaskSpec | None,
                           .is_registered(name) -> bool  (the functions in tasks/, nothing else runs)
    console.capabilities   Capabilities(rq_version, concurrency_limits, rq_cron, rq_scheduler, serializer
                           ("pickle"/"json": how new jobs are written), ...): what exists. Once, no Redis.
    console.redis_url      the URL as it may be shown (password masked)
    console.ping() -> bool one round trip; never raises
    console.collector_status() -> CollectorStatus   the history collector's heartbeat and lag, 1 round trip

Parts (method names are stable: other modules rely on them)
    console.overview.read(now=None) -> Overview                  one pipelined read of everything,
                                 shared ~1 s between threads; .invalidate() after actions (readcache.py)
    console.queues.exists(name) -> bool                          1 round trip
    console.queues.require(name) -> str                          same; raises errors.NotFound
    console.queues.names() -> list[str]                          1 round trip
    console.queues.counts(name) -> dict[state, int]              1 round trip (pipelined)
    console.queues.matching(text, limit) -> QueueMatches         1 round trip (palette, suggestions)
    console.workers.exists(name) -> bool                         1 round trip
    console.workers.read(name, now=None) -> WorkerDetail | None  2 round trips (the worker page)
    console.jobs.page(queue, state, page=1, size=50, order="oldest") -> StatePage      2 round trips
    console.jobs.scan(queue, state, job_filter, offset=0, order="oldest", max_rows=50) -> ScanResult
    console.jobs.each(queue, state, job_filter, order="oldest") -> Iterator[JobRow]    (exports)
    console.jobs.rows(job_ids, failures=False) -> list[JobRow]   1 round trip
    console.jobs.detail(job_id) -> JobDetail | None              2 round trips
    console.jobs.exists(job_id) -> bool                          1 round trip
    console.jobs.wait(job_id, seconds) -> jobwait.Waited         long poll for its end (API ?wait=)
    console.jobs.existing(job_ids) -> set[str]                   1 round trip (pipelined EXISTS)
    console.jobs.status(job_id) -> str | None                    1 round trip
    console.jobs.find_by_prefix(prefix) -> PrefixSearch          2 round trips
    console.jobs.matching(text, limit) -> JobMatches             exact id or prefix, as rows: at most 4
    console.jobs.failed(cursor=None, size=50) -> FailedPage      across queues, newest first
    console.jobs.failure_groups(window, window_seconds) -> FailureGroups   cached in process memory
    console.jobs.failed_matching(job_filter, cursor=None, max_rows=50) -> FailedMatches  bounded scan
    console.jobs.count_failed(job_filter, cursor=None, exact=False) -> FailedMatches     bounded count
    console.actions.<f>(...)    every function of rqlayer/actions.py taking `connection` first, bound:
                                retry(ids, ...), cancel, delete, requeue, move, run_now, stop_job,
                                shutdown_worker, kill_horse, suspend_workers, resume_workers,
                                target_queue_name, job_status, ...; constants/classes pass through
    console.bulk.<f>(...)       likewise for rqlayer/bulk.py (create, run, read, begin, request_cancel, ...)
    console.operations.submit(op, work, on_end, context)   the one runner of long operations (bulk, batches)
    console.enqueue.<f>(...)    likewise for rqlayer/enqueue.py (validate_options, enqueue, enqueue_batch)
    console.schedules.<f>(...)  likewise for rqlayer/schedules (read_schedules, get_schedule, health,
                                save, run_now, pause, resume, delete, reschedule, register_defaults)
    console.exposition.<f>(...) rqlayer/exposition.py: read() -> Exposition, render() -> bytes (GET /metrics)
    console.flow.<f>(...)       rqlayer/flow/actions.py: pause, resume, set_limit, clear_limit (per queue),
                                read_queue(name) -> QueueFlowView, read_book() -> FlowBook, ACTIONS
    console.limits.<f>(...)     rqlayer/limits.py (RQ 3 concurrency limits): read_limits, read_limit,
                                parse_concurrency, set_concurrency
    console.replay.<f>(...)     rqlayer/replay.py: parse_spec, matching, start, work, read, history, touched
    console.views.<f>(...)      rqlayer/views.py: saved, save, delete (per user), stuck (the built-in view)
    console.waterfall.read(job_id) -> Waterfall   a job's dependency chain and group on one time axis
    console.events              feed.EventFeed: .poll(after, wait, types, queue, function) -> Poll,
                                .latest(); long polls wait on a small pool of their own, bounded

A bound part fills in `connection` and, when the function takes them, `unsafe` (policy) and `serializer`
(capabilities): `console.bulk.run(op_id, action, selection, options)` is `bulk.run(connection, ..., unsafe=...)`.
The owners of those modules may replace a bound part by an explicit class here, keeping the names.

Errors: the layer raises the family in errors.py (NotFound / Conflict / InvalidInput); dashboard/errors.py
maps it to 404 / 409 / 422. Nothing here imports a web framework: RQ workers import this module too.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

import redis

from dashboard.rqlayer import failures, jobdetail, jobs, jobwait, keys, lookup, readcache, search
from dashboard.rqlayer import matching as typed_text
from dashboard.rqlayer import overview as overview_reads
from dashboard.rqlayer import workers as worker_reads
from dashboard.rqlayer.cluster import on_cluster
from dashboard.rqlayer.connection import describe, ping
from dashboard.rqlayer.errors import NotFound
from dashboard.rqlayer.feed import EventFeed
from dashboard.rqlayer.vocabulary import DEFAULT_PAGE_SIZE, FAILED_PAGE_SIZE

if TYPE_CHECKING:
    from dashboard.rqlayer.telemetry.consumer import CollectorStatus
    from tasks.registry import TaskSpec


@dataclass(frozen=True)
class DecodePolicy:
    """How job data is decoded. `unsafe` (UNSAFE_UNPICKLE) allows unrestricted unpickling: any code a
    job's author could write runs in the console. Off by default; the pages say when it is on."""

    unsafe: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What the RQ installation offers; pages show only what exists."""

    rq_version: str
    concurrency_limits: bool  # RQ 3 RateLimit (rate_limited jobs, rq:rl:* keys)
    rq_cron: bool  # the `rq cron` scheduler (rq.cron)
    rq_scheduler: bool  # the rq-scheduler package (`rqscheduler` process); never on a Cluster or JSON instance
    worker_extension: bool  # the console's Worker subclass: not written yet
    redis_cluster: bool = False  # a redis+cluster:// URL (rqlayer/cluster.py)
    serializer: str = "pickle"  # how new jobs are written (serializers.py)

    @classmethod
    def detect(cls, cluster: bool = False, serializer: str = "pickle") -> Capabilities:
        """Looked up from installed modules, without importing the optional ones. No Redis. On a
        cluster rq-scheduler is off (its keys carry no hash tag: another node), on JSON too (pickle only)."""
        import rq

        def present(name: str) -> bool:
            try:
                return importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                return False

        return cls(
            rq_version=rq.__version__,
            concurrency_limits=present("rq.rate_limit"),
            rq_cron=present("rq.cron"),
            rq_scheduler=present("rq_scheduler") and not cluster and serializer == "pickle",
            worker_extension=False,
            redis_cluster=cluster,
            serializer=serializer,
        )


class TaskCatalogue:
    """The enqueueable functions: those registered with @task in tasks/. Imported on first use, so a
    worker importing the layer does not import every task module through the console."""

    @staticmethod
    def _registry() -> ModuleType:
        return importlib.import_module("tasks.registry")

    def all(self) -> list[TaskSpec]:
        """Every registered task, by name. No Redis."""
        importlib.import_module("tasks")  # importing the package registers every task module
        tasks: list[TaskSpec] = self._registry().all_tasks()
        return tasks

    def get(self, name: str) -> TaskSpec | None:
        """The registered task of that name, or None: nothing else may be enqueued. No Redis."""
        importlib.import_module("tasks")
        spec: TaskSpec | None = self._registry().get_task(name)
        return spec

    def is_registered(self, name: str) -> bool:
        importlib.import_module("tasks")
        return bool(self._registry().is_registered(name))


class BoundModule:
    """A module's functions with `connection` (and `unsafe`, `serializer`, where taken) filled in from the console.

    Only functions whose first parameter is named `connection` are bound; every other attribute
    (constants, dataclasses, error classes, pure helpers) is returned as is."""

    def __init__(self, console: Console, module_name: str) -> None:
        self._console = console
        self._module_name = module_name

    @functools.cached_property
    def module(self) -> ModuleType:
        return importlib.import_module(self._module_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.module, name)
        if not inspect.isfunction(value):
            return value
        parameters = inspect.signature(value).parameters
        if next(iter(parameters), None) != "connection":
            return value
        bound = functools.partial(value, self._console.connection)
        taken = {"unsafe": self._console.policy.unsafe, "serializer": self._console.capabilities.serializer}
        bound = functools.partial(bound, **{name: v for name, v in taken.items() if name in parameters})
        functools.update_wrapper(bound, value)
        setattr(self, name, bound)  # resolved once per name
        return bound


class _Part:
    def __init__(self, console: Console) -> None:
        self._console = console

    @property
    def _c(self) -> redis.Redis:
        return self._console.connection

    @property
    def _unsafe(self) -> bool:
        return self._console.policy.unsafe


class Overviews(_Part):
    def __init__(self, console: Console, cache_seconds: float = 0.0) -> None:
        super().__init__(console)
        self.shared = readcache.OverviewReads(cache_seconds)

    def read(self, now: datetime | None = None) -> overview_reads.Overview:
        """Every queue's counts, workers, limits, suspension and Redis health. Cost: one pipelined round
        trip for the queue and worker sets, one for everything they name, INFO. Never writes. Without
        `now`, one answer serves this process's threads for `cache_seconds` (readcache.py: a hit costs
        one GET and is dropped after any console action)."""
        if now is not None:
            return overview_reads.read_overview(self._c, now)
        return self.shared.read(self._c)

    def invalidate(self) -> None:
        """After a console action: no console process serves its cached overview again. One INCR."""
        self.shared.invalidate(self._c)


class Queues(_Part):
    def exists(self, name: str) -> bool:
        """In RQ's queue set, or with jobs / registries under its name. Cost: one round trip."""
        return jobs.queue_exists(self._c, name)

    def require(self, name: str) -> str:
        """`name` when the queue exists; else NotFound (404). Cost: one round trip."""
        if not jobs.queue_exists(self._c, name):
            raise NotFound(f"There is no queue named {name[:80]!r}.")
        return name

    def names(self) -> list[str]:
        """Every queue name, sorted. Cost: one SMEMBERS."""
        return jobs.list_queue_names(self._c)

    def counts(self, name: str) -> dict[str, int]:
        """The count of each state of one queue (LLEN/ZCARD). Cost: one pipelined round trip."""
        return jobs.state_counts(self._c, name)

    def matching(self, text: str, limit: int) -> typed_text.QueueMatches:
        """Queue names containing `text` (any case), those starting with it first. Cost: one SMEMBERS."""
        return typed_text.queues_matching(self._c, text, limit)


class Workers(_Part):
    def exists(self, name: str) -> bool:
        """A worker of that name is registered. Cost: one round trip."""
        return jobs.worker_exists(self._c, name)

    def read(self, name: str, now: datetime | None = None) -> worker_reads.WorkerDetail | None:
        """One worker, its running jobs (at most worker_reads.MAX_CURRENT_JOBS, with their function) and
        counters; None for a name no worker can have. Cost: two pipelined round trips. Never writes."""
        return worker_reads.read_worker(self._c, name, now, unsafe=self._unsafe)


class Jobs(_Part):
    def page(
        self, queue: str, state: str, page: int = 1, size: int = DEFAULT_PAGE_SIZE, order: str = "oldest"
    ) -> jobs.StatePage:
        """One page of a state: O(size) at any depth. Cost: one round trip for the ids and the total,
        one pipelined read of the page's hashes."""
        return jobs.read_state_page(self._c, queue, state, page, size, order, self._unsafe)

    def scan(
        self,
        queue: str,
        state: str,
        job_filter: search.JobFilter,
        offset: int = 0,
        order: str = "oldest",
        max_rows: int = DEFAULT_PAGE_SIZE,
    ) -> search.ScanResult:
        """Filtered rows, scanning from `offset` for at most a time budget; says where to continue."""
        return search.scan_state(
            self._c, queue, state, job_filter, offset=offset, order=order, max_rows=max_rows, unsafe=self._unsafe
        )

    def each(
        self, queue: str, state: str, job_filter: search.JobFilter, order: str = "oldest"
    ) -> Iterator[jobs.JobRow]:
        """Every matching row, lazily, chunk by chunk (exports). Cost: two round trips per chunk."""
        return search.iter_state(self._c, queue, state, job_filter, order, self._unsafe)

    def rows(self, job_ids: list[str], failures: bool = False) -> list[jobs.JobRow]:
        """Rows for these ids, in order (missing jobs as expired rows). Cost: one pipelined round trip."""
        return jobs.read_rows(self._c, job_ids, self._unsafe, failures=failures)

    def detail(self, job_id: str) -> jobdetail.JobDetail | None:
        """Everything RQ knows about one job, or None. Cost: two pipelined round trips."""
        return jobdetail.read_job(self._c, job_id, unsafe=self._unsafe)

    def wait(self, job_id: str, seconds: float) -> jobwait.Waited:
        """Wait up to `seconds` for the job to end (finished, failed, stopped, canceled) or vanish, on the
        event stream with a status re-read as fallback, holding one of the feed's waiting slots
        (`busy` at once when none is free). See rqlayer/jobwait.py."""
        return jobwait.wait_for_job(self._c, self._console.events, job_id, seconds)

    def exists(self, job_id: str) -> bool:
        """Cost: one EXISTS."""
        return jobs.job_exists(self._c, job_id)

    def existing(self, job_ids: list[str]) -> set[str]:
        """Which of these ids still have a job (history rows link to live jobs). Cost: one pipelined
        round trip of EXISTS."""
        return jobs.existing_jobs(self._c, job_ids)

    def status(self, job_id: str) -> str | None:
        """The status field of the job hash, or None. Cost: one HGET."""
        from dashboard.rqlayer import actions

        return actions.job_status(self._c, job_id)

    def find_by_prefix(self, prefix: str) -> lookup.PrefixSearch:
        """Jobs whose id starts with `prefix`, among a bounded window of each queue and registry."""
        return lookup.find_by_prefix(self._c, prefix)

    def matching(self, text: str, limit: int) -> typed_text.JobMatches:
        """The job with id `text`, else at most `limit` jobs whose id starts with it, as rows. Bounded:
        at most four round trips, never a SCAN (see rqlayer/matching.py)."""
        return typed_text.jobs_matching(self._c, text, limit, self._unsafe)

    def failed(self, cursor: str | None = None, size: int = FAILED_PAGE_SIZE) -> jobs.FailedPage:
        """Failures of every queue, newest first, one page from `cursor`."""
        return jobs.read_failed_across_queues(self._c, cursor=cursor, size=size, unsafe=self._unsafe)

    def failure_groups(self, window: str, window_seconds: float | None) -> search.FailureGroups:
        """Failures grouped by exception and function, cached a few seconds in this process."""
        return search.cached_failure_groups(self._c, window, window_seconds)

    def failed_matching(
        self, job_filter: search.JobFilter, cursor: str | None = None, max_rows: int = FAILED_PAGE_SIZE
    ) -> failures.FailedMatches:
        """Failures of every queue matching the filter, newest first, from `cursor`: at most `max_rows`,
        within a short time budget (two round trips per chunk); says where to continue."""
        return failures.scan_failed(self._c, job_filter, cursor, max_rows=max_rows, unsafe=self._unsafe)

    def count_failed(
        self, job_filter: search.JobFilter, cursor: str | None = None, exact: bool = False
    ) -> failures.FailedMatches:
        """How many failures match, from `cursor`, within a time budget (`exact`: the longer one a
        confirmation waits for); `.done` says whether the count is complete."""
        budget = failures.EXACT_COUNT_BUDGET_SECONDS if exact else failures.COUNT_BUDGET_SECONDS
        return failures.count_failed(self._c, job_filter, cursor, budget_seconds=budget, unsafe=self._unsafe)


class Console:
    """The RQ layer bound to one Redis and one decode policy. Build one per app (cheap, no Redis call)."""

    def __init__(
        self,
        connection: redis.Redis,
        *,
        unsafe: bool = False,
        redis_url: str = "",
        read_cache_seconds: float = 0.0,
        serializer: str = "pickle",
    ) -> None:
        self.connection = connection
        self.prefix = keys.PREFIX
        self.policy = DecodePolicy(unsafe=unsafe)
        self.redis_url = describe(redis_url) if redis_url else ""
        self.tasks = TaskCatalogue()
        self.capabilities = Capabilities.detect(cluster=on_cluster(connection), serializer=serializer)
        self.overview = Overviews(self, read_cache_seconds)
        self.queues = Queues(self)
        self.workers = Workers(self)
        self.jobs = Jobs(self)
        self.actions = BoundModule(self, "dashboard.rqlayer.actions")
        self.bulk = BoundModule(self, "dashboard.rqlayer.bulk")
        self.operations = BoundModule(self, "dashboard.rqlayer.operations")
        self.enqueue = BoundModule(self, "dashboard.rqlayer.enqueue")
        self.schedules = BoundModule(self, "dashboard.rqlayer.schedules")
        self.events = EventFeed(connection)
        self.exposition = BoundModule(self, "dashboard.rqlayer.exposition")
        self.flow = BoundModule(self, "dashboard.rqlayer.flow.actions")
        self.limits = BoundModule(self, "dashboard.rqlayer.limits")
        self.replay = BoundModule(self, "dashboard.rqlayer.replay")
        self.views = BoundModule(self, "dashboard.rqlayer.views")
        self.waterfall = BoundModule(self, "dashboard.rqlayer.waterfall")

    def ping(self) -> bool:
        """True when Redis answers. Cost: one PING; never raises."""
        return ping(self.connection)

    def collector_status(self) -> CollectorStatus:
        """What the history collector last said about itself (running, lag), for its page. One HGETALL."""
        from dashboard.rqlayer.telemetry.consumer import collector_status

        return collector_status(self.connection)
