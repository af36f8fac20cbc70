"""Test settings: the real settings module, with test defaults for the variables it requires.

DATABASE_URL and REDIS_URL come from the environment (.ci/run points them at PostgreSQL and
Redis). Without DATABASE_URL the run starts a throw-away embedded PostgreSQL of its own in a
temporary var folder (so parallel runs never share one), stopped and deleted when the run ends;
without REDIS_URL the broker is kombu's filesystem transport in that folder, as under `make run`.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("BOTWATCH_SECRET_KEYS", "test-encryption-key-0001")
os.environ.setdefault("BOTWATCH_ALLOW_HTTP", "1")
os.environ.setdefault("BOTWATCH_ALLOW_PRIVATE_PORTALS", "1")  # the simulator listens on 127.0.0.1
if "BOTWATCH_VAR_DIR" not in os.environ:
    os.environ["BOTWATCH_VAR_DIR"] = tempfile.mkdtemp(prefix="botwatch-test-var-")
    # Registered first, so it runs last: after the embedded server started there has stopped.
    atexit.register(shutil.rmtree, os.environ["BOTWATCH_VAR_DIR"], ignore_errors=True)
os.environ.setdefault("BOTWATCH_ALERT_EMAILS", "oncall@example.com")

from dashboard.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405 (whitenoise warns about a missing folder)
