"""Offline storage: bytes per jet on disk and the CPU cost of `trigcomp compress` / `decompress`.

Part 1, bytes per jet (after ROOT's own compression), on the bundled QCD + ttbar samples (jet10 variables), each
file with its event structure (nJet):
* the jets as NanoAOD stores them (float32, nConstituents as uint8) with ZSTD and with LZMA;
* the same floats rounded to 10, 11, 12 mantissa bits (and to the fewest bits meeting the targets) + ZSTD;
* `trigcomp compress` with the fixed-point and float codecs `recommend` fits at the targets (--targets, default
  l1-jets: equal physics quality), in both layouts, and with the jet10 autoencoder (which does not meet them).
Every row says whether it meets the targets, judged on recommend's held-out 40 % of events of each sample.

Part 2, CPU: jets/s per core (CPU time of one single-threaded process) and peak RSS of compress and decompress of
files of about --jets and 4x --jets jets, for the autoencoder (native numpy encoder vs TensorFlow predict) and the
fixed-point codec; each measurement in a fresh process. The encoder alone is timed too.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_storage.py [--jets 1000000] [--targets l1-jets]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = [REPO / "data" / "qcd.root", REPO / "data" / "ttbar.root"]
MODEL = REPO / "models" / "jet10"
PRIOR_WORK_JETS_PER_S = 80_000  # the prior work's PyTorch autoencoder, per core
SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
}


# ------------------------------------------------------------------------------------------------ part 1


def write_nanoaod(path: Path, values, counts, compression) -> int:
    """NanoAOD-style Events (nJet, float32 Jet_*, uint8 Jet_nConstituents); returns the file size."""
    import awkward as ak
    import numpy as np
    import uproot

    from trigcomp.records import JET10

    columns = {}
    for i, name in enumerate(JET10):
        column = values[:, i].astype(np.uint8 if name == "nConstituents" else np.float32)
        columns[name] = ak.unflatten(column, counts)
    with uproot.recreate(path, compression=compression) as f:
        f.mktree("Events", {"Jet": ak.zip(columns)})
    return path.stat().st_size


def write_flat(path: Path, values, counts, compression) -> int:
    """The same jets in trigcomp's compressed-file layout (Events/nJet + one flat Jets entry per jet, no per-event
    offsets in every branch), float32: separates what the layout saves from what a codec saves."""
    import numpy as np
    import uproot

    from trigcomp.records import JET10

    with uproot.recreate(path, compression=compression) as f:
        f.mktree("Events", {"nJet": np.int32}).extend({"nJet": counts.astype(np.int32)})
        jets = {
            name: values[:, i].astype(np.uint8 if name == "nConstituents" else np.float32)
            for i, name in enumerate(JET10)
        }
        f.mktree("Jets", {name: column.dtype for name, column in jets.items()}).extend(jets)
    return path.stat().st_size


def round_mantissa(values, bits: int):
    """float32 values rounded to ``bits`` mantissa bits (half away from zero), the low bits zero."""
    import numpy as np

    words = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    drop = 23 - bits
    return ((words + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)).view(np.float32)


def storage_table(fitted, samples, tmp: Path) -> list[dict]:
    """Bytes per jet and target ratio of every way of storing ``samples``; ``fitted``: a ``recommend`` result."""
    import numpy as np
    import uproot

    from trigcomp.codecs import AutoencoderCodec
    from trigcomp.model import load_model, split_events
    from trigcomp.recommend import HELD_OUT_FRACTION, SPLIT_SEED
    from trigcomp.storage import compress_file
    from trigcomp.targets import check_targets

    held_out = [split_events(s.event_index, SPLIT_SEED, 0.0, HELD_OUT_FRACTION)[2] for s in samples]
    counts = [np.bincount(s.event_index, minlength=s.n_events) for s in samples]
    checked = fitted.targets

    def worst(reco_per_sample) -> float:
        return max(
            check_targets(checked, s.variables, s.values[m].astype(float), r[m].astype(float)).worst_ratio
            for s, m, r in zip(samples, held_out, reco_per_sample)
        )

    rows = []

    def add(name: str, sizes: list[int], ratio: float | None, note: str = "") -> None:
        jets = sum(len(s) for s in samples)
        rows.append(
            {
                "storage": name,
                "bytes_per_jet": sum(sizes) / jets,
                "per_sample": {p.stem: size / len(s) for p, s, size in zip(SAMPLES, samples, sizes)},
                "worst_ratio": ratio,
                "meets_targets": ratio is not None and ratio <= 1.0,
                "note": note,
            }
        )

    for label, setting in (("ZSTD", uproot.ZSTD(5)), ("LZMA", uproot.LZMA(8))):
        sizes = [
            write_nanoaod(tmp / f"f32-{label}-{i}.root", s.values, c, setting)
            for i, (s, c) in enumerate(zip(samples, counts))
        ]
        add(f"NanoAOD float32 + {label}", sizes, worst([s.values for s in samples]), "lossless (nConstituents uint8)")

    flat = [
        write_flat(tmp / f"flat-{i}.root", s.values, c, uproot.ZSTD(5)) for i, (s, c) in enumerate(zip(samples, counts))
    ]
    add(
        "float32, trigcomp's flat layout + ZSTD",
        flat,
        worst([s.values for s in samples]),
        "lossless; no offsets per branch",
    )

    mantissa_ratio = {b: worst([round_mantissa(s.values, b) for s in samples]) for b in range(1, 13)}
    fewest = min((b for b, r in mantissa_ratio.items() if r <= 1.0), default=None)
    for bits in sorted({10, 11, 12} | ({fewest} if fewest else set())):
        truncated = [round_mantissa(s.values, bits) for s in samples]
        sizes = [
            write_nanoaod(tmp / f"m{bits}-{i}.root", t, c, uproot.ZSTD(5))
            for i, (t, c) in enumerate(zip(truncated, counts))
        ]
        note = "fewest mantissa bits meeting the targets" if bits == fewest else ""
        add(f"float32, {bits} mantissa bits + ZSTD", sizes, mantissa_ratio[bits], note)
        if bits == fewest:
            sizes = [
                write_flat(tmp / f"fm{bits}-{i}.root", t, c, uproot.ZSTD(5))
                for i, (t, c) in enumerate(zip(truncated, counts))
            ]
            add(f"float32, {bits} mantissa bits, flat layout + ZSTD", sizes, mantissa_ratio[bits], note)

    codecs = [c for c in fitted.codec_objects.values()] + [AutoencoderCodec(load_model(MODEL))]
    for codec in codecs:
        reco = [
            codec.decode(codec.encode(s.values[:, [s.variables.index(v) for v in codec.variables]]).codes)
            for s in samples
        ]
        full = [np.array(s.values, dtype=float) for s in samples]
        for f, r, s in zip(full, reco, samples):
            f[:, [s.variables.index(v) for v in codec.variables]] = r  # variables it does not send: not judged
        ratio = worst(full)
        for layout in ("packed", "fields"):
            for compression in ("zstd:5", "lzma:8"):
                sizes = [
                    compress_file(
                        codec,
                        path,
                        tmp / f"{codec.name}-{layout}-{compression}-{i}.root",
                        layout=layout,
                        compression=compression,
                        force=True,
                    ).bytes
                    for i, path in enumerate(SAMPLES)
                ]
                add(
                    f"trigcomp {codec.name} ({codec.bits_per_jet} bits), {layout}, {compression.split(':')[0].upper()}",
                    sizes,
                    ratio,
                )
    return rows


def print_storage(rows: list[dict], targets: str) -> None:
    names = list(rows[0]["per_sample"])
    print(
        "\n| storage (QCD + ttbar, jet10) | bytes/jet | "
        + " | ".join(names)
        + f" | meets {targets} (worst ratio) | note |"
    )
    print("|---|---|" + "---|" * len(names) + "---|---|")
    for r in rows:
        ratio = "–" if r["worst_ratio"] is None else f"{'yes' if r['meets_targets'] else 'no'} ({r['worst_ratio']:.3g})"
        per = " | ".join(f"{r['per_sample'][n]:.2f}" for n in names)
        print(f"| {r['storage']} | **{r['bytes_per_jet']:.2f}** | {per} | {ratio} | {r['note']} |")


# ------------------------------------------------------------------------------------------------ part 2


def write_big_input(path: Path, target_jets: int) -> int:
    """An input file of about ``target_jets`` jets: the bundled samples' events repeated in shuffled order."""
    import awkward as ak
    import numpy as np
    import uproot

    from trigcomp.records import JET10

    events = [uproot.open(p)["Events"].arrays([f"Jet_{v}" for v in JET10]) for p in SAMPLES]
    jets = ak.concatenate([ak.zip({v: e[f"Jet_{v}"] for v in JET10}) for e in events])
    per_copy = int(ak.sum(ak.num(jets)))
    rng = np.random.default_rng(0)
    copies = max(1, round(target_jets / per_copy))
    with uproot.recreate(path, compression=uproot.ZSTD(5)) as f:
        tree = f.mktree("Events", {"Jet": jets.type.content})
        for _ in range(copies):
            tree.extend({"Jet": jets[rng.permutation(len(jets))]})
    return copies * per_copy


def child(task: dict) -> dict:
    """One measurement in this (fresh, single-threaded) process: CPU seconds, wall seconds, peak RSS."""
    from trigcomp.storage import compress_file, decompress_file, load_storage_codec

    if Path(task["model"]).is_dir():  # an autoencoder: TensorFlow builds (and decodes) it; one thread, per core
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if task["op"] == "encode":
        import numpy as np

        from trigcomp.data import load_jets

        codec = load_storage_codec(task["model"], task["engine"])
        x = load_jets(task["data"], variables=codec.variables).values
        codec.encode(x[:1000])  # TensorFlow builds its predict function on the first call
        cpu, wall = time.process_time(), time.perf_counter()
        codes = codec.encode(x).codes
        result = {"jets": len(x), "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
        result["codes_sha"] = __import__("hashlib").sha256(np.ascontiguousarray(codes).tobytes()).hexdigest()[:16]
    else:
        if task["op"] == "compress":
            codec = load_storage_codec(task["model"], task["engine"])
            codec.encode(__import__("numpy").zeros((1000, len(codec.variables))))  # warm up, as above
            cpu, wall = time.process_time(), time.perf_counter()
            done = compress_file(codec, task["data"], task["out"], force=True)
        else:
            cpu, wall = time.process_time(), time.perf_counter()
            done = decompress_file(task["data"], task["out"], task["model"], force=True)
        result = {"jets": done.jets, "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
        result["stages"] = done.seconds
    return result | {"peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over from the parent across exec."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def run_child(task: dict) -> dict:
    env = os.environ | SINGLE_THREAD | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(task)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_table(n_jets: int, codec_file: Path, tmp: Path) -> None:
    sizes = {}
    for factor in (1, 4):
        path = tmp / f"input-{factor}.root"
        sizes[factor] = write_big_input(path, n_jets * factor)
    print(f"\ninput files: {sizes[1]:,} and {sizes[4]:,} jets (NanoAOD-style, ZSTD); one core, one thread each")
    print("\n| what | jets | jets/s per core (CPU) | wall s | peak RSS MB | vs prior work 80 k/s |")
    print("|---|---|---|---|---|---|")
    results = {}
    model = str(MODEL)

    def show(label: str, r: dict) -> None:
        rate = r["jets"] / r["cpu"]
        print(
            f"| {label} | {r['jets']:,} | {rate:,.0f} | {r['wall']:.2f} | {r['peak_rss_mb']:.0f} | {rate / PRIOR_WORK_JETS_PER_S:.1f}x |"
        )

    for engine in ("native", "tensorflow"):
        r = results[("encode", engine)] = run_child(
            {"op": "encode", "engine": engine, "model": model, "data": str(tmp / "input-1.root")}
        )
        show(f"encode only, jet10 autoencoder, {engine}", r)
    same = results[("encode", "native")]["codes_sha"] == results[("encode", "tensorflow")]["codes_sha"]
    for factor in (1, 4):
        for label, model_path, engine in (
            ("jet10 autoencoder, native", model, "native"),
            ("jet10 autoencoder, tensorflow", model, "tensorflow"),
            ("fixed point at the targets", str(codec_file), "native"),
        ):
            if engine == "tensorflow" and factor == 4:
                continue  # TensorFlow's memory is shown at one size; the native path is the one that must stay flat
            out = tmp / f"c-{factor}-{engine}-{Path(model_path).stem}.root"
            r = results[("compress", label, factor)] = run_child(
                {
                    "op": "compress",
                    "engine": engine,
                    "model": model_path,
                    "data": str(tmp / f"input-{factor}.root"),
                    "out": str(out),
                }
            )
            show(f"compress, {label}", r)
            if engine != "tensorflow":
                r = run_child(
                    {
                        "op": "decompress",
                        "engine": engine,
                        "model": model_path,
                        "data": str(out),
                        "out": str(tmp / "reco.root"),
                    }
                )
                show(f"decompress, {label.split(',')[0]}", r)
    native, tf = results[("encode", "native")], results[("encode", "tensorflow")]
    print(
        f"\nencoder: native / TensorFlow = {(native['jets'] / native['cpu']) / (tf['jets'] / tf['cpu']):.1f}x per core; identical codes: {same}"
    )
    a, b = results[("compress", "jet10 autoencoder, native", 1)], results[("compress", "jet10 autoencoder, native", 4)]
    print(
        f"compress native, stages (s) at {a['jets']:,} jets: {json.dumps({k: round(v, 2) for k, v in a['stages'].items()})}"
    )
    print(
        f"peak RSS, compress native: {a['peak_rss_mb']:.0f} MB at {a['jets']:,} jets, {b['peak_rss_mb']:.0f} MB at {b['jets']:,} jets"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jets", type=int, default=1_000_000, help="jets in the smaller CPU-benchmark file")
    parser.add_argument("--targets", default="l1-jets")
    parser.add_argument("--skip-cpu", action="store_true", help="only the bytes-per-jet table")
    parser.add_argument("--skip-storage", action="store_true", help="only the CPU table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    from trigcomp.codecs import FixedPointCodec, codec_to_toml
    from trigcomp.data import load_jets
    from trigcomp.recommend import recommend
    from trigcomp.targets import load_targets

    samples = [load_jets(path, variables="jet10") for path in SAMPLES]
    start = time.perf_counter()
    fitted = recommend(load_targets(args.targets), samples, area=False)
    print(f"recommend fitted the classical codecs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        tmp = Path(tmp)
        if not args.skip_storage:
            print_storage(storage_table(fitted, samples, tmp), args.targets)
        if not args.skip_cpu:
            codec_file = tmp / "fixed.toml"
            codec_file.write_text(
                codec_to_toml(next(c for c in fitted.codec_objects.values() if isinstance(c, FixedPointCodec)))
            )
            cpu_table(args.jets, codec_file, tmp)


if __name__ == "__main__":
    main()
