"""Structured logs with AAA categories, Prometheus metrics, health endpoints."""
