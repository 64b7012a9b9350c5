"""Deployment wiring: the triggers of `prefect.yaml`, the hand-over to Prefect, `serve`."""
