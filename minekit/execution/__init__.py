"""Execution: pipelines, shards and Ray, above the stages."""
