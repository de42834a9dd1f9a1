"""How long `acflow validate` takes on a big acflow.yaml (an agency's: thousands of flows).

A 20,000-flow file once took 161 s. Profiled (cProfile), the time went to DuckDB binding
each step of each flow (DESCRIBE of the step's SQL, 1 to 2 ms each, four per flow) and
to parsing the YAML twice in pure Python. Then (3b9e0e9): libyaml parses once, a step
shared by several flows (the source of every flow reading deals) is bound once, and the
last step is bound only when `types:` or `timezone:` change a type. That left one
DESCRIBE per distinct formula or filter (0.4 to 1 ms each whatever it holds, batching
whole steps does not help: each step's `SELECT *` binds every column of its input).

Now (flows.py, `_Batch`): the formulas and filters of every flow reading the same input
are bound in one statement, one select list and one WHERE over that input, 200
expressions a statement (~35 us each); a statement that fails is halved down to its
culprits, which are bound step by step as before for their own message at their own
line. A formula that reads an earlier formula of its flow, or whose text could reach
past itself (comments, ';', unclosed quotes), is bound step by step from the start.
`types:` and `timezone:` are probed once per (input type, cast) over a NULL of that type
instead of binding each flow's whole query again (2,000 varied flows with types: on
each, 4.1 s -> 1.4 s; not a shape below).
And reading the file and compiling pause Python's cycle collector (config.paused_gc):
its collections walked the YAML node tree, ~20 objects a line, 3.5 s of 5 s at 20,000.
What is left: ~0.8 s of start-up, ~1.5 s to read 20,000 flows, ~1.7 s to check them.

Median wall time (s) on a 2-CPU machine shared with other work (so +-15%): 5 runs at
2,000, 3 at 20,000; (1) one run.

    flows    shape     before (3b9e0e9^)   shared steps (3b9e0e9)   now
    2,000    varied    12.0                4.3                      1.2
    2,000    uniform   12.4                1.2                      1.0
    20,000   varied    135 (1)             38.8 (1)                 4.4
    20,000   uniform   113 (1)             7.1 (1)                  3.1

Two shapes of file: `uniform` (every flow alike but its name and file, as generated
files are) and `varied` (entities, filters, formulas and columns differ per flow).

    .venv/bin/python benchmarks/validate.py [--flows 20000] [--shape uniform|varied] [--runs 3]

The figure is the median wall time of `acflow validate` in a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCES = [("deals", "value / 100.0", "status = {i} % 3", ["id", "title", "x"]),
           ("contacts", "length(email)", "id > {i}", ["id", "email", "x"]),
           ("campaigns", "send_amt * 2", "send_amt >= {i}", ["id", "name", "x"]),
           ("lists", "id + {i}", "id <> {i}", ["id", "name", "x"]),
           ("segments", "upper(name)", "id < {i}", ["id", "name", "x"]),
           ("forms", "entries + {i}", "entries >= 0", ["id", "name", "x"])]


def flows_file(flows: int, shape: str) -> str:
    lines = ["version: 1", "accounts:", "  main: {url: https://acme.api-us1.com, key_env: AC_KEY}", "flows:"]
    for i in range(flows):
        entity, formula, condition, select = SOURCES[i % len(SOURCES)] if shape == "varied" else SOURCES[0]
        n = i if shape == "varied" else 1
        lines += [f"  flow_{i}:", f"    source: {entity}", f"    formulas: {{x: {formula.format(i=n)}}}",
                  f"    filter: {condition.format(i=n)}", f"    select: [{', '.join(select)}]",
                  f"    to: out/flow_{i}.csv"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20_000)
    parser.add_argument("--shape", choices=["uniform", "varied"], default="uniform")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acflow.yaml"
        path.write_text(flows_file(args.flows, args.shape))
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "acflow.cli", "validate", "--config", str(path)],
                                    capture_output=True, text=True)
            seconds.append(time.perf_counter() - started)
            if result.returncode != 0:
                raise SystemExit(result.stderr[:2000])
    print(f"acflow validate, {args.flows:,} {args.shape} flows: {statistics.median(seconds):.1f} s "
          f"(range {min(seconds):.1f} to {max(seconds):.1f}, {len(seconds)} runs)")


if __name__ == "__main__":
    main()
