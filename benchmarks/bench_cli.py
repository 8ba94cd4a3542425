"""How instant is the CLI? Median wall time of `ctripctl --help` and `payment create` on SQLite.

Every figure is a fresh process, as a script or a person would run it, measured in the
same run as the baseline `python -c pass` (the interpreter's own start-up), so the
ratios hold on a busy machine too. Also: `payment import` of 1,000 CSV rows.

  python -c pass                     the floor: no ctripctl code at all
  ctripctl --help                    typer + rich + the command tree; nothing heavy
  ctripctl payment create --json     config, one SQLite transaction, one address derived
  ctripctl payment import (1,000)    bulk: validation, 1,000 addresses, one transaction

The SQLite database is made by `ctripctl init` in a temporary folder.

Run:  .venv/bin/python benchmarks/bench_cli.py [--reps 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CTRIPCTL = Path(sys.executable).parent / "ctripctl"


def wall(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_of(reps: int, args: list[str], cwd: Path) -> tuple[float, float, float]:
    """(median, min, max) seconds over `reps` runs, after one warm-up run (page cache, .pyc)."""
    wall(args, cwd)
    times = [wall(args, cwd) for _ in range(reps)]
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--import-reps", type=int, default=3)
    opts = parser.parse_args()
    cli = [str(CTRIPCTL)] if CTRIPCTL.exists() else [sys.executable, "-m", "ctripctl"]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [*cli, "init", "--config", "ctrip.toml", "--json"], cwd=work, check=True, capture_output=True
        )
        create = [*cli, "payment", "create", "--chain", "local", "--amount", "0.1", "--json"]
        cases = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
            ("ctripctl --help", [*cli, "--help"]),
            ("ctripctl payment create --json", create),
        ]
        results = [(name, median_of(opts.reps, args, work)) for name, args in cases]

        import_times = []
        for rep in range(opts.import_reps):
            csv = work / f"orders-{rep}.csv"
            rows = "".join(f"local,{n}.5,,BENCH-{rep}-{n},,\n" for n in range(1000))
            csv.write_text("chain,amount,token,reference,webhook_url,expires_in\n" + rows)
            import_times.append(wall([*cli, "payment", "import", str(csv), "--json"], work))

    baseline = results[0][1][0]
    print(f"ctripctl CLI start-up, {opts.reps} runs each (median, min..max), SQLite, {sys.executable}")
    print(f"{'command':<36}{'median':>10}{'min..max':>20}{'vs baseline':>14}")
    for name, (med, lo, hi) in results:
        spread = f"{lo * 1000:.0f}..{hi * 1000:.0f}ms"
        print(f"{name:<36}{med * 1000:>8.0f}ms{spread:>20}{med / baseline:>13.1f}x")
    med = statistics.median(import_times)
    print(f"{'ctripctl payment import (1,000 rows)':<36}{med * 1000:>8.0f}ms"
          f"{f'{min(import_times) * 1000:.0f}..{max(import_times) * 1000:.0f}ms':>20}"
          f"{'':>14}  ({opts.import_reps} runs; {med / 1000 * 1e6:.0f} µs per payment)")  # fmt: skip


if __name__ == "__main__":
    main()
