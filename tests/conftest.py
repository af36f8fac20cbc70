"""Shared fixtures. Each kind of real peer lives in its own module under tests/fixtures/."""

import pytest

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
