"""Test settings: the real settings module, with test defaults for the variables it requires.

DATABASE_URL and REDIS_URL come from the environment (.ci/run points them at PostgreSQL and
Redis); without them the suite runs on SQLite.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("BOTWATCH_SECRET_KEYS", "test-encryption-key-0001")
os.environ.setdefault("BOTWATCH_ALLOW_HTTP", "1")
os.environ.setdefault("BOTWATCH_ALLOW_PRIVATE_PORTALS", "1")  # the simulator listens on 127.0.0.1
os.environ.setdefault("BOTWATCH_VAR_DIR", tempfile.mkdtemp(prefix="botwatch-test-var-"))
os.environ.setdefault("BOTWATCH_ALERT_EMAILS", "oncall@example.com")

from dashboard.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405 (whitenoise warns about a missing folder)
