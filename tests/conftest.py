"""Shared fixtures. Each kind of real peer lives in its own module under tests/fixtures/."""

import shutil
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone, translation

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.simulator",
    "tests.fixtures.celery_worker",
    "tests.fixtures.dashboard",
    "tests.fixtures.browser",
    "tests.fixtures.smtp",
    "tests.fixtures.receiver",
    "tests.fixtures.api",
]


@pytest.fixture(autouse=True)
def _email_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A request through LocaleMiddleware leaves its language active in the thread: the next test
    starts from the instance's, as a worker thread does."""
    yield
    translation.deactivate()


@pytest.fixture
def django_clock(monkeypatch):
    """Sets the moment django.utils.timezone.now() answers in this process, for a test whose
    outcome depends on the calendar (what day it is, how many days are left)."""

    def set_to(moment):
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return set_to


@pytest.fixture
def var_dir():
    """A var folder for the embedded PostgreSQL of the processes a test starts, outside pytest's
    temporary folders: run as root, that server runs as a user of its own, which must pass
    through every folder above its data, and pytest keeps its base folder to root alone (0700),
    tightening it again whenever a pytest session starts."""
    path = Path(tempfile.mkdtemp(prefix="botwatch-test-var-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
