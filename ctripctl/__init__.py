"""ctripctl: a self-hosted EVM payment gateway run as a command-line tool.

The package root imports nothing heavy: `ctripctl --help` must stay instant.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
