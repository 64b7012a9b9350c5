"""make bench: measurements of the real pipeline; run the modules as `python -m bench.NAME`."""
