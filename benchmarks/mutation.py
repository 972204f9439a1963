"""Mutation testing of the checks with cosmic-ray: how many deliberately broken versions the tests catch.

    pip install -c constraints.txt -e ".[mutation]"
    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/mutation.py [--target compare csim ...] [--timeout 300]

Each target is a module and the tests that guard it. cosmic-ray mutates one operator, number or comparison at a
time and runs the target's tests; a mutant is killed when they fail (or time out). Prints the kill rate per target
and overall (target: >= 95 %) and the surviving mutants as diffs. Work happens in a temporary copy of the
repository, so an interrupted run leaves the sources untouched. Not run in CI: reports and csim take hours on 2
cores (every csim mutant trains the test session's model and compiles a project).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "firmware", "models", "configs", "data", "pyproject.toml")
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Target:
    module: str  # path of a module (or package directory) inside the repository
    tests: str  # pytest arguments
    functions: tuple[str, ...] = ()  # mutate only these functions (all of the module when empty)


TARGETS = {
    "compare": Target("src/trigcomp/compare.py", "tests/test_compare.py"),
    "weights_proof": Target("src/trigcomp/weights_proof.py", "tests/test_weights_proof.py"),
    "csim": Target("src/trigcomp/csim.py", "tests/test_csim.py tests/test_weights_proof.py -k 'csim or harness'"),
    # reports.py may become a package reports/: whichever exists is mutated
    "reports": Target("src/trigcomp/reports", "tests/test_reports.py tests/test_exit_paths.py"),
    "cli-exit-paths": Target(
        "src/trigcomp/cli.py",
        "tests/test_exit_paths.py tests/test_cli.py tests/test_weights_proof.py -k 'exit or csim or bad_input'",
        ("cmd_csim", "cmd_report", "cmd_run", "cmd_rtl", "main"),
    ),
}


def module_path(root: Path, target: Target) -> str:
    path = root / target.module
    if not path.exists() and path.with_suffix(".py").is_file():
        path = path.with_suffix(".py")
    return str(path.relative_to(root))


def function_lines(path: Path, names: tuple[str, ...]) -> list[str]:
    """Line ranges "first-last" of the named top-level functions."""
    tree = ast.parse(path.read_text())
    found = {node.name: f"{node.lineno}-{node.end_lineno}" for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in names if name not in found]
    if missing:
        raise SystemExit(f"{path}: no function {', '.join(missing)}")
    return [found[name] for name in names]


def config_text(root: Path, target: Target, timeout: float) -> str:
    module = module_path(root, target)
    lines = [
        "[cosmic-ray]",
        f"module-path = {json.dumps(module)}",
        f"timeout = {timeout}",
        "excluded-modules = []",
        f"test-command = {json.dumps(f'{sys.executable} -m pytest -x -q -p no:cacheprovider {target.tests}')}",
        "[cosmic-ray.distributor]",
        'name = "local"',
    ]
    if target.functions:
        ranges = function_lines(root / module, target.functions)
        lines += ["[cosmic-ray.filters.line-filter.lines]", f"{json.dumps(module)} = {json.dumps(ranges)}"]
    return "\n".join(lines) + "\n"


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every type annotation: with `from __future__ import annotations` they are never
    evaluated, so a mutant inside one is equivalent to the original and cannot be killed."""
    tree = ast.parse(path.read_text())
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
    if not future or "annotations" not in {a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}:
        return []  # annotations are evaluated at definition time: their mutants can be killed
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations = [node.returns] + [a.annotation for a in ast.walk(node.args) if isinstance(a, ast.arg)]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        else:
            continue
        for a in filter(None, annotations):
            spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def skip_annotation_mutants(root: Path, session: str) -> int:
    """Mark the mutants inside type annotations as skipped before they run; returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans: dict[Path, list] = {}
    skipped = []
    with use_db(session, WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutations = item.mutations
            for m in mutations:
                path = root / m.module_path if not m.module_path.is_absolute() else m.module_path
                spans.setdefault(path, annotation_spans(path))
            if all(
                any(start <= tuple(m.start_pos) and tuple(m.end_pos) <= end for start, end in spans[path])
                for m in mutations
            ):
                skipped.append(item.job_id)
        if skipped:
            db.set_multiple_results(
                skipped, WorkResult(output="in a type annotation", worker_outcome=WorkerOutcome.SKIPPED)
            )
    return len(skipped)


def run(command: list[str], root: Path) -> str:
    env = {"PYTHONPATH": str(root / "src"), "PATH": f"{BIN}:/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


def mutate(name: str, target: Target, timeout: float) -> tuple[int, int, int, list[str]]:
    """(killed, total, skipped in type annotations, diffs of the survivors) of one target."""
    with tempfile.TemporaryDirectory(prefix=f"trigcomp-mutation-{name}-") as tmp:
        root = Path(tmp)
        for item in COPIED:
            source = REPO / item
            if source.is_dir():
                shutil.copytree(source, root / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif source.is_file():
                shutil.copyfile(source, root / item)
        config = root / "cosmic-ray.toml"
        config.write_text(config_text(root, target, timeout))
        session = str(root / "session.sqlite")
        run([str(BIN / "cosmic-ray"), "init", str(config), session], root)
        if target.functions:
            run([str(BIN / "cr-filter-lines"), "--config", str(config), session], root)
        in_annotations = skip_annotation_mutants(root, session)
        run([str(BIN / "cosmic-ray"), "baseline", str(config)], root)  # the tests pass on the unmutated code
        run([str(BIN / "cosmic-ray"), "exec", str(config), session], root)
        killed = total = 0
        survivors = []
        for line in run([str(BIN / "cosmic-ray"), "dump", session], root).splitlines():
            item, result = json.loads(line)
            if result is None or result.get("worker_outcome") != "normal":
                continue  # skipped by the line filter, or not run
            total += 1
            if result["test_outcome"] == "killed":
                killed += 1
            else:
                survivors.append(result.get("diff", ""))
    return killed, total, in_annotations, survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant before it counts as killed")
    parser.add_argument("--show-survivors", action="store_true", help="print the diff of every surviving mutant")
    args = parser.parse_args()
    all_killed = all_total = 0
    for name in args.target:
        killed, total, in_annotations, survivors = mutate(name, TARGETS[name], args.timeout)
        all_killed, all_total = all_killed + killed, all_total + total
        print(
            f"{name:15s} {killed:5d} of {total:5d} mutants killed = {100 * killed / max(total, 1):5.1f} % "
            f"({in_annotations} more in type annotations, never evaluated, not run)",
            flush=True,
        )
        if args.show_survivors:
            for diff in survivors:
                print(diff)
    rate = 100 * all_killed / max(all_total, 1)
    print(f"{'all':15s} {all_killed:5d} of {all_total:5d} mutants killed = {rate:5.1f} % (target >= 95 %)")
    return 0 if rate >= 95 else 1


if __name__ == "__main__":
    sys.exit(main())
