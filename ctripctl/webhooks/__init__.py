"""Webhook delivery: target checks, the retry schedule, signed concurrent sending.

No database access: the outbox's claims and records live in ctripctl/db/ (claims.py,
events.py, outbox.py), and passes/flush.py puts the two together.
"""
