"""Sign-in timing: a wrong password for a known user against any password for an unknown one.

Before the dummy-hash check an unknown username answered in ~9 ms and a known one in ~81 ms (scrypt),
which told an attacker which usernames exist. Each attempt comes from its own address, so the throttle
adds no delay. Prints the medians and ends with one `RESULT ...` line.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import support  # noqa: E402

REPS = 15


def main() -> None:
    support.handle_signals()
    children = support.Children()
    try:
        with tempfile.TemporaryDirectory(prefix="rqconsole-bench-login-") as tmp:
            workdir = Path(tmp)
            redis_url = support.start_redis(children, workdir)
            known, unknown = measure(redis_url, workdir)
    finally:
        children.stop_all()
    print(f"known user, wrong password : median {known * 1000:7.1f} ms")
    print(f"unknown user               : median {unknown * 1000:7.1f} ms")
    print(f"RESULT known_ms={known * 1000:.1f} unknown_ms={unknown * 1000:.1f} ratio={unknown / known:.2f}")


def measure(redis_url: str, workdir: Path) -> tuple[float, float]:
    from dashboard import accounts
    from dashboard.extensions import db
    from tests.helpers import build_app, make_env

    data_dir = workdir / "console"
    data_dir.mkdir()
    app = build_app(make_env(redis_url, f"sqlite:///{data_dir}/b.db", data_dir))
    with app.app_context():
        accounts.create_user("bench-admin", "bench-password-0123", "admin", actor="bench")

    def attempt(username: str, n: int) -> float:
        client = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        started = time.perf_counter()
        response = client.post(
            "/login",
            data={"username": username, "password": "not-the-password", "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"},
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 401, response.status_code
        return elapsed

    attempt("bench-admin", 0), attempt("nobody", 1)  # warm-up
    known = statistics.median(attempt("bench-admin", 10 + n) for n in range(REPS))
    unknown = statistics.median(attempt(f"nobody-{n}", 1000 + n) for n in range(REPS))
    with app.app_context():
        db.engine.dispose()
    return known, unknown


if __name__ == "__main__":
    main()
