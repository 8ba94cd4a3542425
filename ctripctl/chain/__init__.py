"""Network I/O to the chain: the JSON-RPC client and block/log/receipt fetching.

Returns plain records (ctripctl.domain.records); never touches the database. Importing
this package is cheap; the heavy modules import their libraries lazily.
"""
