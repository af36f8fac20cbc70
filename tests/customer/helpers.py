"""Helpers of the customer-page tests."""

import pickle
import time

from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache


def seconds_to_live(key: str) -> float:
    """How long the cache keeps `key` from now, read from the cache itself (Redis or the file cache)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return cache._cache.get_client(key).ttl(cache.make_and_validate_key(key))
    assert isinstance(cache, FileBasedCache), f"no way to read a time to live from {type(cache).__name__}"
    with open(cache._key_to_file(key), "rb") as entry:  # the file starts with its expiry time
        return pickle.load(entry) - time.time()  # noqa: S301 - the test's own cache file
