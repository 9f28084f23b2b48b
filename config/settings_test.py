"""Settings for the test suite: PostgreSQL and Redis from the environment, with this machine's
local services as defaults, and throttles high enough that only throttle tests trip them."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-hs256")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("WEFT_CACHE_PREFIX", "weft-test")
os.environ.setdefault("WEFT_THROTTLE_USER", "100000/min")
os.environ.setdefault("WEFT_THROTTLE_ANON", "100000/min")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The test client speaks plain HTTP; tests of the production profile run their own process.
os.environ.setdefault("WEFT_PROFILE", "development")
os.environ.setdefault("WEFT_ACTIVITY_MODULES", "tests.support.activities")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures

# Never the real AWS from a developer's environment: integration tests need no broker. (Set
# here, not in os.environ, where Celery would let it override every app of the process.) The
# end-to-end tests' processes get a local SQS server's endpoint instead.
if not os.environ.get("AWS_ENDPOINT_URL_SQS"):
    CELERY_BROKER_URL = "memory://"
