"""Pure EVM helpers, no I/O: keccak, addresses, HD derivation, log matching.

Importing this package is cheap; coincurve and friends load inside the functions that use them.
"""
