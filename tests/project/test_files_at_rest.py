"""Files that hold secrets are the owner's alone (0600) from the moment they exist: the .env that
`make run` writes, the folder of the embedded database and the broker, and the export with secrets."""

import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from checks.models import Bot, Portal

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask():
    # The umask of most shells: files would be 0644 and folders 0755 unless created otherwise.
    old = os.umask(0o022)
    yield
    os.umask(old)


def manage(folder: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        SECRET_KEY="s" * 50,
        BOTWATCH_SECRET_KEYS="k" * 32,
        BOTWATCH_VAR_DIR=str(folder / "var"),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )


def test_make_env_writes_the_file_0600_and_never_over_another(tmp_path):
    target = tmp_path / ".env"
    subprocess.run([sys.executable, "scripts/make_env.py", str(target)], cwd=ROOT, check=True)
    assert mode(target) == 0o600
    assert "SECRET_KEY=" in target.read_text()

    before = target.read_text()
    again = subprocess.run([sys.executable, "scripts/make_env.py", str(target)], cwd=ROOT, capture_output=True)
    assert again.returncode != 0 and target.read_text() == before


def test_the_var_folder_and_the_embedded_database_are_private_from_the_start(var_dir):
    manage(var_dir, "migrate", "-v0")
    var = var_dir / "var"
    # Run as root, the embedded server runs as a user of its own in root's group, which needs
    # passage (no listing) through var/ to its data folder.
    assert mode(var) == (0o710 if os.geteuid() == 0 else 0o700)
    assert mode(var / "postgres") == 0o700
    assert [mode(var / "broker" / name) for name in ("", "queue", "processed", "control")] == [0o700] * 4


@pytest.mark.django_db
def test_export_with_secrets_is_0600_before_the_first_byte(tmp_path, monkeypatch):
    portal = Portal.objects.create(name="acme", url="https://a.example.com", webhook_user_id=1, webhook_code="k3y")
    Bot.objects.create(portal=portal, code="b", bot_token="tok-secret")
    target = tmp_path / "backup.yaml"
    target.write_text("old content\n")
    target.chmod(0o644)
    modes_at_write = []
    real_write = os.write

    def spy(fd, data):
        modes_at_write.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    call_command("export_portals", "--with-secrets", "-o", str(target), stderr=StringIO())
    monkeypatch.undo()

    assert modes_at_write and set(modes_at_write) == {0o600}
    assert mode(target) == 0o600
    text = target.read_text()
    assert "tok-secret" in text and "old content" not in text


@pytest.mark.django_db
@pytest.mark.parametrize("with_secrets", [True, False])
def test_export_to_a_file_replaces_a_symlink_or_a_linked_file_and_never_writes_through(tmp_path, with_secrets):
    portal = Portal.objects.create(name="acme", url="https://acme.bitrix24.com", webhook_user_id=1, webhook_code="c0de")
    Bot.objects.create(portal=portal, code="b", bot_token="tok-secret")
    victim = tmp_path / "victim"
    victim.write_text("someone else's\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(victim)
    shared = tmp_path / "shared.yaml"  # pre-created, with a second name elsewhere (as another user's file would be)
    shared.write_text("old\n")
    other_name = tmp_path / "other-name"
    os.link(shared, other_name)
    flags = ["--with-secrets"] if with_secrets else []

    for target in (link, shared):
        call_command("export_portals", *flags, "-o", str(target), stderr=StringIO())
        assert not target.is_symlink() and mode(target) == 0o600 and "acme" in target.read_text()

    assert victim.read_text() == "someone else's\n" and other_name.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "other-name", "shared.yaml", "victim"]


@pytest.mark.django_db
def test_export_to_a_directory_it_cannot_write_names_the_file(tmp_path):
    missing = tmp_path / "no-such-dir" / "out.yaml"
    with pytest.raises(CommandError, match=f"cannot write {missing}: No such file or directory"):
        call_command("export_portals", "-o", str(missing), stderr=StringIO())
