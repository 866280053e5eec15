"""Connection profiles: several named Redis instances in one console, read from the environment.

    REDIS_URLS="prod=redis://prod-redis:6379/0,staging=rediss://:pw@staging:6380/0"   (first = default)
    REDIS_PROFILE_COLOURS="prod=red,staging=amber"     (the environment badge; COLOURS below)
    REDIS_PROFILE_PREFIXES="staging=rq"                (optional; must equal the process's RQ_KEY_PREFIX)
    REDIS_PROFILE_SERIALIZERS="staging=json"           (pickle, RQ's default, or json: how new jobs are written)

Entries are `name=value`, separated by commas or white space. A URL may itself hold commas (the hosts
of a redis+sentinel:// or redis+cluster:// URL), so REDIS_URLS splits only before `name=scheme://`.
Without REDIS_URLS the console has one profile, "default", on REDIS_URL, as it always had; with both,
REDIS_URL must be the first instance's URL.

Flask-free and Redis-free: settings validation (and the `make run` supervisor) reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_NAME = "default"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# Before `name=scheme://` only: a comma inside a URL (Sentinel's or Cluster's host list) is not a separator.
_URL_ENTRY = re.compile(r"[,\s]+(?=[A-Za-z0-9][A-Za-z0-9_-]{0,31}=[A-Za-z][A-Za-z0-9+.-]*://)")
# The badge colours the stylesheet defines (env-badge-<colour>), each readable in both themes.
COLOURS = ("red", "amber", "green", "blue", "purple", "grey")
# As rqlayer/serializers.py NAMES (this module stays free of RQ): pickle is RQ's default.
SERIALIZERS = ("pickle", "json")


class ProfileError(ValueError):
    """A profile setting the console cannot use; the message names the variable."""


@dataclass(frozen=True)
class Profile:
    """One Redis instance the console shows: its name (in every URL, /@<name>/...), URL and badge colour
    ("" for none). `configured`: named in REDIS_URLS, not the implicit single profile of REDIS_URL.
    `serializer`: how the console writes new jobs there (what its workers read)."""

    name: str
    url: str
    colour: str = ""
    configured: bool = False
    serializer: str = "pickle"


@dataclass(frozen=True)
class Profiles:
    """Every profile in order; the first is the default (unprefixed URLs, sign-in throttles, the history
    collector's Redis)."""

    all: tuple[Profile, ...]

    @property
    def default(self) -> Profile:
        return self.all[0]

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    @property
    def shown(self) -> bool:
        """Whether pages show the badge: several instances, or one that was named or coloured on purpose."""
        return self.several or self.default.configured or bool(self.default.colour)

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.all)

    def get(self, name: str) -> Profile | None:
        return next((p for p in self.all if p.name == name), None)


def load_profiles(env: Mapping[str, str], redis_url: str, check_url: Callable[[str, str], str]) -> Profiles:
    """The profiles the environment describes; `redis_url` is REDIS_URL's (validated) value, used when
    REDIS_URLS is not set; `check_url(url, variable)` validates one URL (settings.validate_redis_url).
    Raises ProfileError naming the variable."""
    raw = env.get("REDIS_URLS", "").strip()
    urls = _entries(raw, "REDIS_URLS", _URL_ENTRY) if raw else {DEFAULT_NAME: redis_url}
    for name, url in urls.items():
        if raw:
            try:
                check_url(url, f"REDIS_URLS ({name})")
            except ValueError as error:
                raise ProfileError(str(error)) from None
    colours = _entries(env.get("REDIS_PROFILE_COLOURS", ""), "REDIS_PROFILE_COLOURS")
    prefixes = _entries(env.get("REDIS_PROFILE_PREFIXES", ""), "REDIS_PROFILE_PREFIXES")
    serializers = _entries(env.get("REDIS_PROFILE_SERIALIZERS", ""), "REDIS_PROFILE_SERIALIZERS")
    for variable, given in (
        ("REDIS_PROFILE_COLOURS", colours),
        ("REDIS_PROFILE_PREFIXES", prefixes),
        ("REDIS_PROFILE_SERIALIZERS", serializers),
    ):
        unknown = [n for n in given if n not in urls]
        if unknown:
            raise ProfileError(f"{variable}: no profile named {unknown[0]!r} (profiles: {', '.join(urls)})")
    for name, colour in colours.items():
        if colour.lower() not in COLOURS:
            raise ProfileError(f"REDIS_PROFILE_COLOURS: {name}={colour[:20]!r}: one of {', '.join(COLOURS)}")
    for name, serializer in serializers.items():
        if serializer.lower() not in SERIALIZERS:
            raise ProfileError(
                f"REDIS_PROFILE_SERIALIZERS: {name}={serializer[:40]!r}: one of {', '.join(SERIALIZERS)} "
                "(json is rq.serializers.JSONSerializer, what `rq worker --serializer "
                "rq.serializers.JSONSerializer` reads)"
            )
    _check_prefixes(prefixes)
    first_name, first_url = next(iter(urls.items()))
    if raw and env.get("REDIS_URL") and env["REDIS_URL"] != first_url:
        # The Procfile's worker and scheduler (and `flask` commands beside a `make run`) use REDIS_URL, the
        # history collector the default instance: two different Redis servers would split them silently.
        raise ProfileError(
            f"REDIS_URLS: its first instance ({first_name}) is the default and must be the Redis REDIS_URL "
            "names (the workers' and the scheduler's): set REDIS_URL to the same URL, or leave it unset"
        )
    return Profiles(
        tuple(
            Profile(
                name,
                url,
                colours.get(name, "").lower(),
                configured=bool(raw),
                serializer=serializers.get(name, "pickle").lower(),
            )
            for name, url in urls.items()
        )
    )


def _check_prefixes(prefixes: dict[str, str]) -> None:
    # RQ reads RQ_KEY_PREFIX once, at import (rq.defaults), and every key of the process is built from it:
    # one process cannot serve two prefixes. We read the same variable RQ reads.
    process_prefix = os.environ.get("RQ_KEY_PREFIX") or "rq"
    for name, prefix in prefixes.items():
        if prefix != process_prefix:
            raise ProfileError(
                f"REDIS_PROFILE_PREFIXES: {name}={prefix[:40]!r} differs from this process's RQ key prefix "
                f"{process_prefix!r}. RQ reads RQ_KEY_PREFIX once per process, so one console serves one "
                "prefix: run another console (with RQ_KEY_PREFIX set) for that instance."
            )


def _entries(raw: str, variable: str, separator: re.Pattern[str] | None = None) -> dict[str, str]:
    """`name=value` pairs in order; a name twice, a bad name or a missing value is a ProfileError."""
    parts = separator.split(raw.strip()) if separator else re.split(r"[,\s]+", raw.strip())
    found: dict[str, str] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise ProfileError(f"{variable}: expected name=value, got {_shown(part)!r}")
        if not NAME.match(name):
            raise ProfileError(
                f"{variable}: profile name {_shown(name)[:40]!r}: letters, digits, _ and - "
                "(at most 32, a letter or digit first)"
            )
        if name in found:
            raise ProfileError(f"{variable}: profile {name!r} is named twice")
        found[name] = value
    return found


def _shown(part: str) -> str:
    # An entry may be a URL with a password: never echo more than its start.
    return part if "@" not in part else part.split("@", 1)[0].rsplit(":", 1)[0] + ":****@…"
