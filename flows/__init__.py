"""Prefect layer 2: flows compose tasks; rules stay in the core."""
