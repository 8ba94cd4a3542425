"""Operator plumbing: Prometheus metrics files, health thresholds, pass logging."""
