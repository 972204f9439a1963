"""Generator throughput: events/s of trigcomp.generate with 1 and with 2 worker processes, same events, one run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_generate.py --process qcd --events 4000

The two runs use the same seed and block size, so they produce the same jets (checked); only the wall time differs.
Worker processes start with spawn, hence the __main__ guard.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import awkward as ak
import uproot

from trigcomp.generate import DEFAULT_BLOCK_EVENTS, PROCESSES, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", default="qcd", choices=sorted(PROCESSES))
    parser.add_argument("--events", type=int, default=4 * DEFAULT_BLOCK_EVENTS)
    parser.add_argument("--block-events", type=int, default=DEFAULT_BLOCK_EVENTS)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        results, jet_pts = {}, {}
        for processes in (1, 2):
            out = Path(directory) / f"{processes}.root"
            results[processes] = generate(
                arguments.process,
                arguments.events,
                arguments.seed,
                out,
                processes=processes,
                progress=False,
                block_events=arguments.block_events,
            )
            with uproot.open(out) as file:
                jet_pts[processes] = file["Events"]["Jet_pt"].array()
        same = bool(ak.array_equal(jet_pts[1], jet_pts[2]))
    for processes, result in results.items():
        print(
            f"{arguments.process}: {result.events} events, {result.jets} jets, processes={processes}: "
            f"{result.seconds:.1f} s, {result.events_per_s:.1f} events/s"
        )
    ratio = results[2].events_per_s / results[1].events_per_s
    print(f"speed-up with 2 processes: {ratio:.2f}x; identical jets: {same}")
    print(
        json.dumps(
            {
                "process": arguments.process,
                "events": arguments.events,
                "speedup": round(ratio, 3),
                "identical": same,
                "runs": [results[k].to_json() for k in (1, 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
