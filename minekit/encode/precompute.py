"""Renamed: minekit.encode.fill_cache. This name stays only until stages.py and execution/ray_runner.py import
from there; then delete it."""

from minekit.encode.fill_cache import ENCODE_CHUNK, Job, cached_keys, counts, fill_cache, plan  # noqa: F401
