"""Local stand-ins for AWS, for the demo, the tests and the benchmark: never the pipeline."""
