"""How instant is the CLI? Median wall time of `ctripctl --help` and `payment create` on SQLite.

Every figure is a fresh process, as a script or a person would run it, measured in the
same run as the baseline `python -c pass` (the interpreter's own start-up), so the
ratios hold on a busy machine too. Also: `payment import` of 1,000 CSV rows.

  python -c pass                     the floor: no ctripctl code at all
  ctripctl --help                    typer + rich + the command tree; nothing heavy
  ctripctl payment create --json     config, one SQLite transaction, one address derived
  ctripctl payment import (1,000)    bulk: validation, 1,000 addresses, one transaction

The SQLite database is made by `ctripctl init` in a temporary folder. With
`--before REV` the same commands also run on the code of git revision REV (extracted
with `git archive`, put first on PYTHONPATH), interleaved with the current code so both
see the same machine load — e.g. `--before f75dcf6`, the tree before the start-up work.

Both trees are byte-compiled first (bytecode_cache.py), as an installed copy is.

Run:  .venv/bin/python benchmarks/bench_cli.py [--reps 15] [--before REV]

Measured 2026-11-29 (15 interleaved runs, `--before 569b652`, the tree before the GC
and lazy-import work of that day): --help 90 ms vs 140 ms, payment create 446 ms vs
603 ms (python -c pass: 14 ms); payment import of 1,000 rows 0.96 s.
Measured 2026-12-02 (21 interleaved runs, `--before 3ce15c6`, the tree before payment
create/show went to stdlib sqlite3 on a SQLite file, on a busy 2-core machine: load 4):
payment create 184 ms vs 567 ms, --help 115 ms vs 109 ms (python -c pass: 20 ms);
payment import of 1,000 rows 0.33 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bytecode_cache import compile_tree  # noqa: E402

CTRIPCTL = Path(sys.executable).parent / "ctripctl"


def wall(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def medians(reps: int, runs: list[tuple[list[str], dict[str, str] | None]], cwd: Path) -> list[list[float]]:
    """Wall times of each run, `reps` rounds interleaved (after one warm-up round: .pyc, page cache)."""
    for args, env in runs:
        wall(args, cwd, env)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(reps):
        for i, (args, env) in enumerate(runs):
            times[i].append(wall(args, cwd, env))
    return times


def extract(rev: str, into: Path) -> dict[str, str]:
    """The ctripctl package of git revision `rev`, and an environment that imports it first."""
    archive = subprocess.run(["git", "archive", rev, "ctripctl"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    compile_tree(into / "ctripctl")
    return {**os.environ, "PYTHONPATH": str(into)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--import-reps", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also time the ctripctl code of this git revision")
    opts = parser.parse_args()
    compile_tree(ROOT / "ctripctl")  # time it as installed: see bytecode_cache.py
    cli = [str(CTRIPCTL)] if CTRIPCTL.exists() else [sys.executable, "-m", "ctripctl"]
    if opts.before:  # an older tree may name another console-script target: both via -m
        cli = [sys.executable, "-m", "ctripctl"]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init = [*cli, "init", "--config", "ctrip.toml", "--json"]
        subprocess.run(init, cwd=work, check=True, capture_output=True)
        # There is no node here: the first address a new database hands out is checked
        # against one (ops/address_reuse.py) unless [wallet] first_index is set. One create
        # with it set moves the counter past that check; every timed run then uses the plain
        # starter config, which a `--before` tree from before first_index also reads.
        starter = (work / "ctrip.toml").read_text()
        (work / "first.toml").write_text(starter.replace("# first_index = 1000", "first_index = 1"))
        first = [*cli, "payment", "create", "--amount", "0.1", "--json", "--config", "first.toml"]
        subprocess.run(first, cwd=work, check=True, capture_output=True)
        create = [*cli, "payment", "create", "--chain", "local", "--amount", "0.1", "--json"]
        cases: list[tuple[str, list[str], dict[str, str] | None]] = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None),
            ("ctripctl --help", [*cli, "--help"], None),
            ("ctripctl payment create --json", create, None),
        ]
        if opts.before:
            (work / "before").mkdir()
            old = extract(opts.before, work / "before")
            cases += [
                (f"  same, code of {opts.before}: --help", [*cli, "--help"], old),
                (f"  same, code of {opts.before}: create", create, old),
            ]
        times = medians(opts.reps, [(args, env) for _, args, env in cases], work)

        import_times = []
        for rep in range(opts.import_reps):
            csv = work / f"orders-{rep}.csv"
            rows = "".join(f"local,{n}.5,,BENCH-{rep}-{n},,\n" for n in range(1000))
            csv.write_text("chain,amount,token,reference,webhook_url,expires_in\n" + rows)
            import_times.append(wall([*cli, "payment", "import", str(csv), "--json"], work))

    baseline = statistics.median(times[0])
    print(f"ctripctl CLI start-up: {opts.reps} interleaved runs each, SQLite, {sys.executable}")
    print(f"{'command':<42}{'median':>9}{'min..max':>16}{'vs baseline':>13}")
    for (name, _, _), runs in zip(cases, times, strict=True):
        med = statistics.median(runs)
        spread = f"{min(runs) * 1000:.0f}..{max(runs) * 1000:.0f}"
        print(f"{name:<42}{med * 1000:>7.0f}ms{spread:>14}ms{med / baseline:>12.1f}x")
    med = statistics.median(import_times)
    spread = f"{min(import_times) * 1000:.0f}..{max(import_times) * 1000:.0f}"
    print(f"{'ctripctl payment import (1,000 rows)':<42}{med * 1000:>7.0f}ms{spread:>14}ms", end="")
    print(f"   ({opts.import_reps} runs; {med:.2f} ms per payment)")  # seconds per 1,000 = ms per one


if __name__ == "__main__":
    main()
