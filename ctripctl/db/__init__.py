"""Persistence: typed SQLAlchemy models, sessions, migrations and the queries over them.

ORM classes stay inside this package; everything outside talks to its functions.
"""
