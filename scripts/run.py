"""`make run`: set up on the embedded defaults, then run web, worker, beat and the simulator.

Without DATABASE_URL, starts the embedded PostgreSQL under var/ and gives every process it starts
its socket URL (the cluster stops when make run ends, Ctrl-C too). Migrates, creates an admin
login on first run, starts every process of the Procfile under honcho (Ctrl-C stops them all)
and, on an empty database, imports the simulator's demo portals.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.embedded_db import running  # noqa: E402 (the project's root is on the path from here)

PYTHON = sys.executable
VAR_DIR = Path(os.environ.get("BOTWATCH_VAR_DIR", ROOT / "var"))
DEMO_FILE = VAR_DIR / "demo-portals.yaml"
WEB_PORT = os.environ.get("BOTWATCH_WEB_PORT", "8000")


def manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True, text=True, capture_output=capture)
    return result.stdout if capture else ""


def django_query(code: str) -> str:
    return manage("shell", "-v0", "-c", code, capture=True).strip()


def ensure_admin() -> None:
    if (
        django_query(
            "from django.contrib.auth.models import User; print(User.objects.filter(is_superuser=True).exists())"
        )
        == "True"
    ):
        return
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
    chosen = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    password = chosen or secrets.token_urlsafe(12)
    env = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": password}
    subprocess.run(
        [PYTHON, "manage.py", "createsuperuser", "--noinput", "--username", username, "--email", "admin@localhost"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    if chosen:
        # The operator chose it: no need to print it into a terminal or a log.
        print(f"\n  Admin login created: user {username!r}, with the password from DJANGO_SUPERUSER_PASSWORD\n")
        return
    print(f"\n  Admin login created: user {username!r}, password {password!r}")
    print(f"  (shown once; change it with: python manage.py changepassword {username})\n", flush=True)


def wants_demo() -> bool:
    return django_query("from checks.models import Portal; print(Portal.objects.exists())") == "False"


def import_demo_when_ready(honcho: subprocess.Popen) -> None:
    """The simulator writes the demo portal file once it listens; import it then."""
    DEMO_FILE.unlink(missing_ok=True)
    deadline = time.monotonic() + 60
    while not DEMO_FILE.exists():
        if honcho.poll() is not None or time.monotonic() > deadline:
            print("The simulator did not write its demo portal file; no demo portals imported.", file=sys.stderr)
            return
        time.sleep(0.5)
    time.sleep(0.5)  # let the writer finish the file
    manage("import_portals", str(DEMO_FILE))


def tighten_env_file() -> None:
    """A .env written before it was created 0600 (or copied in) holds the keys: owner only."""
    env_file = ROOT / ".env"
    if env_file.exists() and env_file.stat().st_mode & 0o077:
        env_file.chmod(0o600)
        print(f"{env_file} was readable by other users; it is now mode 600 (it holds the secret keys).")


def configured(name: str) -> bool:
    """Set in the environment or in .env (which the settings read)."""
    return configured_value(name) is not None


def configured_value(name: str) -> str | None:
    """The value the settings will read: the environment's, else the last of .env, else None."""
    if name in os.environ:
        return os.environ[name]
    env_file = ROOT / ".env"
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    pairs = (line.partition("=") for line in lines)
    values = [value.strip() for key, sep, value in pairs if sep and key.strip() == name]
    return values[-1] if values else None


def debug_notice() -> str:
    """Says whether Django's debug mode is on: its error pages list the settings (a .env of an
    older `make run` has DEBUG=1)."""
    if (configured_value("DEBUG") or "").lower() in {"1", "true", "yes", "on"}:
        return (
            "DEBUG=1: Django's debug mode is ON. Its error pages show the settings and code to anyone who\n"
            "  reaches the dashboard. Set DEBUG=0 in .env unless you are working on BotWatch itself."
        )
    return "DEBUG=0: error pages say nothing about the server (DEBUG=1 in .env turns on Django's debug pages)."


def allow_the_simulator() -> None:
    """The demo portals live on the simulator at 127.0.0.1, a private address BotWatch refuses by
    default; a .env written before BOTWATCH_ALLOW_PRIVATE_PORTALS existed does not allow it."""
    if not configured("BOTWATCH_ALLOW_PRIVATE_PORTALS"):
        os.environ["BOTWATCH_ALLOW_PRIVATE_PORTALS"] = "1"


def stop_on_terminate(signum, frame) -> None:
    """SIGTERM (a service manager, `timeout`, make passing it on) before the processes run: unwind,
    so that the database started here stops too."""
    raise SystemExit(128 + signum)


def main() -> int:
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, stop_on_terminate)
    tighten_env_file()
    allow_the_simulator()
    with contextlib.ExitStack() as stack:
        if not configured("DATABASE_URL"):
            # Every process started below inherits the URL: one cluster, held until the end.
            os.environ["DATABASE_URL"] = stack.enter_context(running(VAR_DIR))
            print(f"PostgreSQL: the embedded server in {VAR_DIR / 'postgres'}", flush=True)
        return run_processes()


def run_processes() -> int:
    manage("migrate", "--noinput", "-v0")
    ensure_admin()
    demo = wants_demo()
    print(f"BotWatch: http://127.0.0.1:{WEB_PORT}  (Ctrl-C stops every process)", flush=True)
    print(debug_notice(), flush=True)
    bin_dir = str(Path(PYTHON).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    honcho = subprocess.Popen([os.path.join(bin_dir, "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env)
    # From here SIGTERM goes to honcho, which stops every process; the database stops after them.
    signal.signal(signal.SIGTERM, lambda signum, frame: honcho.send_signal(signum))
    try:
        if demo:
            import_demo_when_ready(honcho)
        return honcho.wait()
    except KeyboardInterrupt:
        # honcho got the same Ctrl-C (same process group) and is stopping its children.
        return honcho.wait()


if __name__ == "__main__":
    sys.exit(main())
