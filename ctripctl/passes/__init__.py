"""The cron passes, one module each (scan, confirm, flush): lock → fetch → decide → write.

The only layer that puts chain I/O, the database and webhook delivery together.
"""
