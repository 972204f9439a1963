"""Reading throughput of trigcomp.data.iter_jets against a bare uproot.iterate of the same branches.

Builds a NanoAOD-like file of about --jets jets by repeating the shared CMS NanoAOD jets, then reads it with both
(best of --repeats runs each, alternating) and prints jets/s and the ratio (trigcomp / bare uproot; aim >= 0.8),
by wall-clock time and by CPU time of this process (steadier when other jobs share the machine).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_read.py [--jets 1500000] [--variables jet4 jet10] [--repeats 5]
"""

import argparse
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from trigcomp.data import iter_jets, resolve_variables

NANOAOD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
EVENTS_PER_BASKET = 50_000


def write_big_file(path: Path, target_jets: int) -> int:
    """NanoAOD-like Events tree (Jet_* jet10 branches) repeating the shared file's events; returns the jet count."""
    names = resolve_variables("jet10")
    events = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{v}" for v in names])
    jets = ak.zip({v: events[f"Jet_{v}"] for v in names})
    jets_per_copy = int(ak.sum(ak.num(jets)))
    copies_per_basket = max(1, EVENTS_PER_BASKET // len(jets))
    basket = ak.concatenate([jets] * copies_per_basket)
    n_baskets = max(1, round(target_jets / (jets_per_copy * copies_per_basket)))
    # Shuffled events: exact repeats within zlib's window would compress far better than any real file.
    rng = np.random.default_rng(0)
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {"Jet": basket.type.content})
        for _ in range(n_baskets):
            tree.extend({"Jet": basket[rng.permutation(len(basket))]})
    return n_baskets * copies_per_basket * jets_per_copy


def bare_uproot(path: Path, branches: list[str]) -> int:
    n = 0
    for arrays in uproot.iterate(f"{path}:Events", branches, step_size="100 MB"):
        n += len(ak.flatten(arrays[branches[0]]))
    return n


def trigcomp_reader(path: Path, variables: str) -> int:
    return sum(len(chunk) for chunk in iter_jets(path, preset="nanoaod", variables=variables, step_size="100 MB"))


def timed(run) -> tuple[dict[str, float], int]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = run()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, n


def measure(path: Path, n_jets: int, variables: str, repeats: int) -> None:
    branches = [f"Jet_{v}" for v in resolve_variables(variables)]
    readers = {
        "uproot.iterate": lambda: bare_uproot(path, branches),
        "trigcomp.iter_jets": lambda: trigcomp_reader(path, variables),
    }
    best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in readers}
    for _ in range(repeats):  # alternate so that page cache and machine load hit both alike
        for name, run in readers.items():
            seconds, n = timed(run)
            assert n == n_jets, f"{name} read {n} jets, expected {n_jets}"
            best[name] = {clock: min(best[name][clock], seconds[clock]) for clock in seconds}
    print(f"variables {variables} ({len(branches)} branches), best of {repeats}:")
    for clock in ("wall", "cpu"):
        rates = {name: n_jets / best[name][clock] for name in readers}
        line = "  ".join(f"{name} {rate / 1e6:6.2f} M jets/s" for name, rate in rates.items())
        ratio = rates["trigcomp.iter_jets"] / rates["uproot.iterate"]
        print(f"  {clock:<4}  {line}  ratio trigcomp / uproot: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=1_500_000, help="approximate number of jets in the test file")
    parser.add_argument("--variables", nargs="+", default=["jet4", "jet10"], help="variable sets to time")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_nanoaod.root"
        n_jets = write_big_file(path, args.jets)
        print(f"file: {n_jets} jets, {path.stat().st_size / 1e6:.1f} MB")
        for variables in args.variables:
            measure(path, n_jets, variables, args.repeats)


if __name__ == "__main__":
    main()
