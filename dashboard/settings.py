"""Every setting of the console, read from the environment once, validated, with safe defaults.

Flask-free on purpose: the `make run` supervisor validates the same settings before it starts
anything, so a bad value is reported once, in one line, naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dashboard import runstate
from dashboard.cluster_url import CLUSTER_SCHEMES, is_cluster_url, parse_cluster_url
from dashboard.profile_config import ProfileError, Profiles, load_profiles
from dashboard.sentinel_url import SENTINEL_SCHEME, parse_sentinel_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(ValueError):
    """A setting has a value the console cannot use; the message names the variable."""


@dataclass(frozen=True)
class TelemetrySettings:
    """What bounds the worker extension's data in Redis (seconds / entries)."""

    metrics_retention: int = 7200
    events_maxlen: int = 100_000
    events_max_age: int = 86_400


def load_telemetry_settings(env=None) -> TelemetrySettings:
    """METRICS_RETENTION (s, per-minute metrics expire after it), EVENTS_MAXLEN (stream cap, ~),
    EVENTS_MAX_AGE (s, older events are trimmed). Workers call this: it imports nothing else."""
    env = os.environ if env is None else env
    return TelemetrySettings(
        metrics_retention=_number(env, "METRICS_RETENTION", 7200, 120, 7 * 86400, int),
        events_maxlen=_number(env, "EVENTS_MAXLEN", 100_000, 100, 10_000_000, int),
        events_max_age=_number(env, "EVENTS_MAX_AGE", 86_400, 60, 30 * 86400, int),
    )


@dataclass(frozen=True)
class AlertSettings:
    """E-mail for alert notifications (dashboard/alerts/mail.py, an RQ job on the webhook queue)."""

    smtp_host: str = ""  # empty: e-mail channels are refused when sending (the alerts page says so)
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    email_from: str = "rq-console@localhost"


def load_alert_settings(env=None) -> AlertSettings:
    """SMTP_HOST, SMTP_PORT (25), SMTP_USERNAME, SMTP_PASSWORD, SMTP_STARTTLS (false), ALERT_EMAIL_FROM.
    The e-mail job calls this in the worker: it imports nothing else."""
    env = os.environ if env is None else env
    sender = env.get("ALERT_EMAIL_FROM", "").strip() or "rq-console@localhost"
    if not re.match(r"^[^@\s]{1,64}@[^@\s]{1,190}$", sender):
        raise SettingsError(f"ALERT_EMAIL_FROM: not an e-mail address: {sender[:60]!r}")
    host = env.get("SMTP_HOST", "").strip()
    if any(c in host for c in "\r\n /"):
        raise SettingsError(f"SMTP_HOST: a host name or address, got {host[:60]!r}")
    return AlertSettings(
        smtp_host=host,
        smtp_port=_number(env, "SMTP_PORT", 25, 1, 65535, int),
        smtp_username=env.get("SMTP_USERNAME", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_starttls=_flag(env, "SMTP_STARTTLS", False),
        email_from=sender,
    )


@dataclass(frozen=True)
class HistorySettings:
    """The SQL history collector (dashboard/history): promoted meta keys and retentions (seconds, days)."""

    attributes: tuple[str, ...] = ()
    minutes_retention: int = 48 * 3600
    hours_retention: int = 90 * 86400
    retention_days: int = 30


HISTORY_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_HISTORY_ATTRIBUTES = 10


def load_history_settings(env=None) -> HistorySettings:
    """HISTORY_ATTRIBUTES (comma list of job `meta` keys copied into SQL as search attributes, at most 10),
    HISTORY_MINUTES_RETENTION (s, default 48 h), HISTORY_HOURS_RETENTION (s, default 90 d),
    HISTORY_RETENTION_DAYS (job outcomes, default 30)."""
    env = os.environ if env is None else env
    names = tuple(dict.fromkeys(n.strip() for n in env.get("HISTORY_ATTRIBUTES", "").split(",") if n.strip()))
    bad = [n for n in names if not HISTORY_ATTRIBUTE.match(n)]
    if bad:
        raise SettingsError(f"HISTORY_ATTRIBUTES: {bad[0][:40]!r} is not a meta key name ({HISTORY_ATTRIBUTE.pattern})")
    if len(names) > MAX_HISTORY_ATTRIBUTES:
        raise SettingsError(f"HISTORY_ATTRIBUTES: at most {MAX_HISTORY_ATTRIBUTES} keys, got {len(names)}")
    return HistorySettings(
        attributes=names,
        minutes_retention=_number(env, "HISTORY_MINUTES_RETENTION", 48 * 3600, 3600, 90 * 86400, int),
        hours_retention=_number(env, "HISTORY_HOURS_RETENTION", 90 * 86400, 86400, 5 * 366 * 86400, int),
        retention_days=_number(env, "HISTORY_RETENTION_DAYS", 30, 1, 3660, int),
    )


@dataclass(frozen=True)
class WebhookSettings:
    """Outgoing webhooks (dashboard/webhooks): the RQ queue their deliveries run on, hosts exempt from the
    SSRF check, the request timeout (s) and the retry schedule: attempt n+1 waits retry_base * 2**(n-1)
    seconds, at most retry_cap, and a delivery fails after max_attempts (defaults: about a day)."""

    queue: str = "webhooks"
    allowed_hosts: tuple[str, ...] = ()
    timeout: float = 10.0
    retry_base: float = 30.0
    retry_cap: float = 4 * 3600.0
    max_attempts: int = 15
    retention_days: int = 30


def load_webhook_settings(env=None) -> WebhookSettings:
    """WEBHOOK_QUEUE, WEBHOOK_ALLOWED_HOSTS (comma list of host or host:port, lower-cased), WEBHOOK_TIMEOUT,
    WEBHOOK_RETRY_BASE (0: retry at once), WEBHOOK_RETRY_CAP, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETENTION_DAYS.
    Delivery jobs call this: it imports nothing else."""
    env = os.environ if env is None else env
    queue = env.get("WEBHOOK_QUEUE", "").strip() or "webhooks"
    if not re.match(r"^[A-Za-z0-9_.:-]{1,100}$", queue):
        raise SettingsError(f"WEBHOOK_QUEUE: letters, digits and _ . : - only, got {queue[:40]!r}")
    hosts = tuple(
        dict.fromkeys(h.strip().lower() for h in env.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip())
    )
    return WebhookSettings(
        queue=queue,
        allowed_hosts=hosts,
        timeout=_number(env, "WEBHOOK_TIMEOUT", 10, 0.1, 60),
        retry_base=_number(env, "WEBHOOK_RETRY_BASE", 30, 0, 3600),
        retry_cap=_number(env, "WEBHOOK_RETRY_CAP", 4 * 3600, 0, 86400),
        max_attempts=_number(env, "WEBHOOK_MAX_ATTEMPTS", 15, 1, 50, int),
        retention_days=_number(env, "WEBHOOK_RETENTION_DAYS", 30, 1, 3660, int),
    )


@dataclass(frozen=True)
class Settings:
    redis_url: str
    database_url: str
    secret_key: str
    data_dir: Path
    poll_seconds: float
    redis_timeout: float
    session_idle_minutes: int
    trust_proxy_user_header: str
    trusted_proxies: tuple[str, ...]
    hide_job_values_from_viewers: bool
    unsafe_unpickle: bool
    login_max_failures: int
    login_lockout_seconds: int
    login_max_failures_per_address: int = 20
    telemetry: TelemetrySettings = TelemetrySettings()
    history: HistorySettings = HistorySettings()
    alerts: AlertSettings = AlertSettings()
    metrics_allowed_ips: tuple[str, ...] = ()  # networks, e.g. "10.0.0.0/8", "127.0.0.1/32"
    webhooks: WebhookSettings = WebhookSettings()
    overview_cache_seconds: float = 1.0  # one overview read serves every poll within it (rqlayer/readcache.py)
    profiles: Profiles | None = None  # REDIS_URLS (profile_config.py); None: one profile on redis_url
    script_name: str = ""  # the URL prefix under gunicorn's SCRIPT_NAME ("" at the root)


def redis_source(env=None) -> str:
    """Where load_settings(env) takes the Redis URL from, in words (for CLI output)."""
    env = os.environ if env is None else env
    return runstate.resolve(env, _data_dir(env))[1]


def _data_dir(env) -> Path:
    raw = env.get("CONSOLE_DATA_DIR", "")
    return Path(raw).resolve() if raw else PROJECT_ROOT / "var"


def validate_redis_url(url: str, name: str = "REDIS_URL") -> str:
    parts = urlsplit(url)
    if is_cluster_url(url):
        try:  # RQ reads its prefix from the process environment (rq.defaults), as the workers do
            parse_cluster_url(url, os.environ.get("RQ_KEY_PREFIX", "rq"))
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None
        return url
    if parts.scheme == SENTINEL_SCHEME:
        try:
            parse_sentinel_url(url)
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None
        return url
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            f"{name}: expected redis://, rediss://, unix://, {SENTINEL_SCHEME}:// or {CLUSTER_SCHEMES[0]}://, "
            f"got {mask_url(url)!r}"
        )
    if parts.scheme != "unix":
        if not parts.hostname:
            raise SettingsError(f"{name}: no host in {mask_url(url)!r}")
        try:
            _ = parts.port
        except ValueError:
            raise SettingsError(f"{name}: bad port in {mask_url(url)!r}") from None
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            raise SettingsError(f"{name}: the database must be a number, got {db!r}")
    elif not parts.path:
        raise SettingsError(f"{name}: no socket path in {url!r}")
    return url


def validate_database_url(url: str, name: str = "DATABASE_URL") -> str:
    # Imported here so that reading the environment never needs SQLAlchemy's import cost.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"{name}: not a database URL: {mask_url(url)!r}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(f"{name}: only sqlite:// and postgresql:// are supported, got {backend!r}")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is what requirements.txt installs; plain postgresql:// would ask for psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def mask_url(url: str) -> str:
    """The URL with its password replaced by ****, safe to print and to show in pages."""
    parts = urlsplit(url)
    if "sentinel_password=" in parts.query:
        url = re.sub(r"([?&]sentinel_password=)[^&]*", r"\1****", url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return url.replace(netloc[0] + "@", f"{user}:****@", 1)


def _number(env, name: str, default: float, low: float, high: float, kind=float):
    raw = env.get(name)
    if raw in (None, ""):
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {raw!r}")
    return value


def _networks(env, name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and CIDR networks, as normalised network strings."""
    found = []
    for raw in (part.strip() for part in env.get(name, "").split(",")):
        if not raw:
            continue
        try:
            found.append(str(ipaddress.ip_network(raw, strict=False)))
        except ValueError:
            raise SettingsError(f"{name}: not an IP address or CIDR network: {raw[:60]!r}") from None
    return tuple(dict.fromkeys(found))


def _flag(env, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


# A URL prefix (SCRIPT_NAME, a trusted proxy's X-Forwarded-Prefix): plain segments, none of dots only
# ("/rq/.." would leave the console's own path once a browser resolves it), no trailing slash.
URL_PREFIX = re.compile(r"(/(?!\.+(?:/|$))[A-Za-z0-9._~-]+)+")


def _script_name(env) -> str:
    """SCRIPT_NAME, the URL prefix gunicorn serves the console under (it reads the same variable); the
    session cookie's path. Plain path segments, no trailing slash: "/rq", "/ops/rq"."""
    raw = env.get("SCRIPT_NAME", "")
    if raw and not URL_PREFIX.fullmatch(raw):
        raise SettingsError(f"SCRIPT_NAME: expected a path like /rq (no trailing slash), got {raw[:60]!r}")
    return raw


def _profiles(env) -> Profiles:
    # REDIS_URLS, when set, names every instance; its first is the default (REDIS_URL, if set, must be it).
    redis_url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        single = redis_url if env.get("REDIS_URLS") else validate_redis_url(redis_url)
        return load_profiles(env, single, validate_redis_url)
    except ProfileError as error:
        raise SettingsError(str(error)) from None


def _secret_key(env, data_dir: Path) -> str:
    if env.get("SECRET_KEY"):
        if len(env["SECRET_KEY"]) < 8:
            raise SettingsError("SECRET_KEY: must be at least 8 characters (use a long random value)")
        return env["SECRET_KEY"]
    # Several gunicorn workers must sign sessions with the same key: keep one in the data dir.
    path = data_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_settings(env=None, use_run_state: bool = True) -> Settings:
    """Read and validate every setting; raises SettingsError naming the first bad variable.

    REDIS_URL and DATABASE_URL that the environment does not set come from a live `make run`'s
    state file (dashboard/runstate.py) when there is one, so a CLI command beside the console
    reaches the same Redis and database; the runner itself passes use_run_state=False."""
    env = os.environ if env is None else env
    data_dir = _data_dir(env)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(f"CONSOLE_DATA_DIR: cannot create {data_dir}: {error.strerror}") from None
    if use_run_state:
        env, _source = runstate.resolve(env, data_dir)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'console.db'}"
    proxies = tuple(p.strip() for p in env.get("TRUSTED_PROXIES", "").split(",") if p.strip())
    header = env.get("TRUST_PROXY_USER_HEADER", "").strip()
    if header and not proxies:
        raise SettingsError("TRUST_PROXY_USER_HEADER: set TRUSTED_PROXIES to the proxy addresses too")
    profiles = _profiles(env)
    return Settings(
        redis_url=profiles.default.url,
        profiles=profiles,
        database_url=validate_database_url(database_url),
        secret_key=_secret_key(env, data_dir),
        data_dir=data_dir,
        poll_seconds=_number(env, "POLL_SECONDS", 2, 0.5, 60),
        redis_timeout=_number(env, "REDIS_TIMEOUT", 2, 0.1, 30),
        session_idle_minutes=_number(env, "SESSION_IDLE_MINUTES", 60, 1, 10080, int),
        trust_proxy_user_header=header,
        trusted_proxies=proxies,
        hide_job_values_from_viewers=_flag(env, "HIDE_JOB_VALUES_FROM_VIEWERS", False),
        unsafe_unpickle=_flag(env, "UNSAFE_UNPICKLE", False),
        login_max_failures=_number(env, "LOGIN_MAX_FAILURES", 5, 1, 1000, int),
        login_lockout_seconds=_number(env, "LOGIN_LOCKOUT_SECONDS", 300, 1, 86400, int),
        login_max_failures_per_address=_number(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100000, int),
        telemetry=load_telemetry_settings(env),
        history=load_history_settings(env),
        alerts=load_alert_settings(env),
        metrics_allowed_ips=_networks(env, "METRICS_ALLOWED_IPS"),
        webhooks=load_webhook_settings(env),
        overview_cache_seconds=_number(env, "OVERVIEW_CACHE_SECONDS", 1, 0, 10),
        script_name=_script_name(env),
    )
