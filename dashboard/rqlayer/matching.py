"""What an operator's typed text names: queues by part of their name, jobs by full id or by id prefix.

The command palette and the jump box's suggestions ask this as the operator types, so every answer is
bounded: one SMEMBERS for queues; for jobs one EXISTS, then (only for a prefix) lookup.find_by_prefix's
bounded windows, then one pipelined read of at most `limit` rows. Never a SCAN or KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from dashboard.rqlayer import jobs, lookup
from dashboard.rqlayer.rows import JobRow
from dashboard.rqlayer.vocabulary import valid_job_id


@dataclass(frozen=True)
class QueueMatches:
    names: list[str]  # at most `limit`: names starting with the text first, then containing it
    total: int  # how many queue names matched in all


@dataclass(frozen=True)
class JobMatches:
    text: str
    rows: list[JobRow] = field(default_factory=list)  # at most `limit`, in the order found
    exact: bool = False  # `text` is the full id of an existing job
    more: bool = False  # more ids matched than `rows` holds
    searched: int = 0  # ids looked at by the prefix search (0: no prefix search ran)
    too_short: bool = False  # not a full id, and too short to search as a prefix


def queues_matching(connection: redis.Redis, text: str, limit: int) -> QueueMatches:
    """Queue names containing `text`, ignoring case (every queue for an empty text), at most `limit`.
    Cost: one SMEMBERS; CPU linear in the number of queues. Never writes."""
    needle = text.casefold()
    names = jobs.list_queue_names(connection)
    starting = [name for name in names if name.casefold().startswith(needle)]
    inside = [name for name in names if needle in name.casefold() and not name.casefold().startswith(needle)]
    found = starting + inside
    return QueueMatches(found[:limit], len(found))


def jobs_matching(connection: redis.Redis, text: str, limit: int, unsafe: bool = False) -> JobMatches:
    """The job `text` names: the job with that exact id, else the jobs whose id starts with it among the
    ids pages show (lookup.find_by_prefix, for at least lookup.MIN_PREFIX characters), as list rows.
    Cost: one EXISTS; for a prefix, one SMEMBERS and one pipelined read of at most lookup.MAX_IDS_READ
    ids; then one pipelined read of at most `limit` rows (16 KB of job data each, never meta or result).
    Guarantee: bounded whatever Redis holds; a job deep inside a long registry is not found by prefix."""
    if not valid_job_id(text):
        return JobMatches(text)
    if jobs.job_exists(connection, text):
        return JobMatches(text, jobs.read_rows(connection, [text], unsafe), exact=True)
    if not lookup.is_prefix_candidate(text):
        return JobMatches(text, too_short=True)
    found = lookup.find_by_prefix(connection, text)
    ids = found.matches[:limit]
    rows = jobs.read_rows(connection, ids, unsafe) if ids else []
    return JobMatches(text, rows, more=len(found.matches) > len(ids), searched=found.searched)
