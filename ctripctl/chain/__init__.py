"""Chain access: addresses, xpub derivation, the JSON-RPC client, scan and confirm passes.

Importing this package is cheap; the heavy modules import their libraries lazily.
"""
