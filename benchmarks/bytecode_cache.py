"""Byte-compile a ctripctl tree before timing it, as installing a wheel does.

`pip install ctripctl` writes every module's bytecode at install time. This checkout runs
from source (an editable install), and on a machine with PYTHONDONTWRITEBYTECODE=1 (this
one sets it) Python then compiles every ctripctl module again in every process: ~0.1 s
of each `ctripctl` run that no installed copy pays (a whole scan pass of bench_scan.py's
chain, 12 interleaved runs each: 1.91 s from source, 1.81 s compiled). Benchmarks call
`compile_tree` first, so they time the program as it runs when installed.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_tree(package: Path) -> None:
    """Write __pycache__ for every module under `package` (quietly; errors raise)."""
    if not compileall.compile_dir(str(package), quiet=1):
        raise RuntimeError(f"could not byte-compile {package}")
