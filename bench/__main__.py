"""Run the benchmarks: every bench/bench_<name>.py, or the names given on the command line."""
from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.harness import BenchContext, Services, write_result


def main(argv: list[str]) -> int:
    """Run each selected benchmark in its own context; a failing one is reported, the rest still run."""
    here = Path(__file__).resolve().parent
    available = sorted(path.stem.removeprefix("bench_") for path in here.glob("bench_*.py"))
    selected = argv or available
    unknown = [name for name in selected if name not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    failures = 0
    with Services() as services:
        for name in selected:
            module = importlib.import_module(f"bench.bench_{name}")
            ctx = BenchContext(tmp=services.tmp, env=dict(services.env))
            started = time.monotonic()
            print(f"== {name}", flush=True)
            try:
                result = module.run(ctx)
            except Exception:
                failures += 1
                traceback.print_exc()
                result = {"error": traceback.format_exc(limit=5)}
            finally:
                ctx.stop_all()
            result["duration_s"] = round(time.monotonic() - started, 1)
            path = write_result(name, result)
            print(json.dumps(result, indent=2)[:4000])
            print(f"-> {path.relative_to(here.parent)}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
