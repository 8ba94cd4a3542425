"""Test-side helpers that drive the real parts: anvil, databases, HTTP receivers, the CLI."""
