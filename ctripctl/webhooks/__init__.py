"""Webhook delivery: target checks, outbox claims, signed concurrent delivery."""
