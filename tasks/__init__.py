"""Prefect layer 1: each task is a log line, retries and one call into the core."""
