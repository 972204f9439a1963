"""Offline storage: ``compress`` jets with any codec into a small ROOT file, ``decompress`` it to NanoAOD-style jets.

The codes are the ones the board would send (``Codec.encode``), so a file compressed here decodes to exactly the
jets ``evaluate``/``recommend`` judged: ``decompress(compress(x)) == codec.decode(codec.encode(x))`` (as float32,
NanoAOD's type). A compressed file holds

* ``Events``: ``nJet`` per event (events without jets included), the event structure of the input;
* ``Jets``: one entry per jet, its codes either ``packed`` — every field's ``field_bits`` bits packed densely,
  most significant first, into ``ceil(bits_per_jet / 8)`` bytes — or one ``code_<field>`` branch per field in the
  smallest unsigned type (``fields``; ROOT's compressor sees each field's values together);
* ``trigcomp_compressed``: JSON metadata — format, the codec's ``to_json``, its hash (the model hash for an
  autoencoder), variables, fields, layout, the trigcomp version, the input files and the hash of the input jets
  (``model.data_hash`` of the same table), events, jets, and the values clamped per field.

An autoencoder's encoder runs either in TensorFlow (QKeras ``predict``) or natively: the same fixed-point arithmetic
in vectorised numpy (``trigcomp.ir.Encoder.reference``: exact in float64), equal bit for bit and much faster. Files are
read and written in chunks (``step_size``), so memory does not grow with the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .codecs import AutoencoderCodec, Codec, Encoding, codec_from_json, load_codec
from .data import JetSelection
from .errors import UserError

FORMAT = "trigcomp-compressed/1"
METADATA_KEY = "trigcomp_compressed"
EVENTS_TREE = "Events"
JETS_TREE = "Jets"
PACKED_BRANCH = "packed"
_METADATA_KEYS = ("codec", "codec_kind", "codec_hash", "field_bits", "layout", "input")
LAYOUTS = ("packed", "fields")
ENGINES = ("native", "tensorflow")
#: Chosen by benchmarks/bench_storage.py (bytes per jet on disk; see the README): one branch per field compresses
#: better than the dense bit packing for the fixed-point and float codecs, the dense packing for an autoencoder.
DEFAULT_LAYOUT = "fields"
DEFAULT_COMPRESSION = "zstd:5"
#: Events per chunk read, encoded and written at a time: memory is bounded by the chunk, not the file.
DEFAULT_STEP_EVENTS = 200_000
#: Jets per block of the native encoder: its intermediate arrays stay in the CPU cache (3-9x faster than whole
#: chunks of 1 M jets, measured in benchmarks/bench_storage.py's conditions).
NATIVE_BLOCK = 4096
#: uproot's compression class and ROOT's default level for each algorithm.
_COMPRESSIONS = {"zstd": ("ZSTD", 5), "lzma": ("LZMA", 8), "zlib": ("ZLIB", 1), "lz4": ("LZ4", 4)}


# ------------------------------------------------------------------------------------------------ codecs


class NativeAutoencoderCodec(AutoencoderCodec):
    """An autoencoder codec whose encoder is evaluated in numpy with ``trigcomp.ir.Encoder.reference`` (the fixed-point
    arithmetic of the firmware, exact in float64) instead of TensorFlow: the same codes, bit for bit."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.spec = model.firmware_ir  # built here: a chunk's timing is the encoding alone

    def encode(self, x: np.ndarray) -> Encoding:
        """Block by block: every intermediate array stays in the CPU cache."""
        if len(x) <= NATIVE_BLOCK:
            return super().encode(x)
        blocks = [
            super(NativeAutoencoderCodec, self).encode(x[i : i + NATIVE_BLOCK]) for i in range(0, len(x), NATIVE_BLOCK)
        ]
        return Encoding(np.concatenate([b.codes for b in blocks]), np.sum([b.saturated for b in blocks], axis=0))

    def latent_and_accumulator(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.spec.reference(self.spec.quantize_inputs(x)[0])


def load_storage_codec(path: str | Path, engine: str = "native") -> Codec:
    """The codec of ``--model``: a model directory (an autoencoder) or a codec file (TOML or JSON ``to_json``)."""
    from .model import load_model

    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    path = Path(path)
    if path.is_dir():
        model = load_model(path.resolve())  # recorded in compressed files: usable from any directory
        return NativeAutoencoderCodec(model) if engine == "native" else AutoencoderCodec(model)
    if not path.is_file():
        raise UserError(f"--model {path}: no such model directory or codec file")
    if path.suffix == ".toml" and "[latent]" in path.read_text(errors="replace"):
        raise UserError(f"{path} is a model config: train it (trigcomp train --config {path}) and pass the model dir")
    codec = load_codec(path)
    if isinstance(codec, AutoencoderCodec) and engine == "native":
        return NativeAutoencoderCodec(codec.model)
    return codec


def codec_hash(codec: Codec) -> str:
    """What identifies the codec's codes: the model hash of an autoencoder, else a hash of its ``to_json``."""
    if isinstance(codec, AutoencoderCodec):
        return codec.model.hash
    return hashlib.sha256(json.dumps(codec.to_json(), sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ bit packing


def _field_positions(field_bits: tuple[int, ...]):
    """Per non-empty field: (column, bits, 64-bit word, left shift in that word; negative: spills into the next)."""
    offset = 0
    for column, bits in enumerate(field_bits):
        if bits:
            word, start = divmod(offset, 64)
            yield column, bits, word, 64 - start - bits
        offset += bits


def pack_codes(codes: np.ndarray, field_bits: tuple[int, ...]) -> np.ndarray:
    """(jets, fields) codes -> (jets, ceil(sum(field_bits) / 8)) uint8, the fields packed most significant first."""
    total = sum(field_bits)
    n_words = -(-total // 64)
    words = np.zeros((len(codes), n_words), dtype=np.uint64)
    for column, bits, word, shift in _field_positions(field_bits):
        value = codes[:, column].astype(np.uint64)
        if np.any(value >> np.uint64(bits)):
            raise ValueError(f"field {column} has codes wider than its {bits} bits")
        if shift >= 0:
            words[:, word] |= value << np.uint64(shift)
        else:
            words[:, word] |= value >> np.uint64(-shift)
            words[:, word + 1] |= value << np.uint64(64 + shift)
    return words.astype(">u8").view(np.uint8)[:, : -(-total // 8)]


def unpack_codes(packed: np.ndarray, field_bits: tuple[int, ...]) -> np.ndarray:
    """The inverse of ``pack_codes``: (jets, bytes) uint8 -> (jets, fields) int64."""
    total = sum(field_bits)
    n_words = -(-total // 64)
    padded = np.zeros((len(packed), n_words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    words = padded.view(">u8").astype(np.uint64)
    codes = np.zeros((len(packed), len(field_bits)), dtype=np.int64)
    for column, bits, word, shift in _field_positions(field_bits):
        mask = np.uint64((1 << bits) - 1)
        if shift >= 0:
            value = words[:, word] >> np.uint64(shift)
        else:
            value = (words[:, word] << np.uint64(-shift)) | (words[:, word + 1] >> np.uint64(64 + shift))
        codes[:, column] = (value & mask).astype(np.int64)
    return codes


def _field_branches(codec: Codec) -> list[tuple[int, str, np.dtype]]:
    """The ``fields`` layout: (code column, branch, smallest unsigned type) per field that has bits."""
    dtypes = (np.uint8, np.uint16, np.uint32, np.uint64)
    return [
        (column, f"code_{name}", np.dtype(next(t for t in dtypes if np.iinfo(t).bits >= bits)))
        for column, (name, bits) in enumerate(zip(codec.field_names, codec.field_bits))
        if bits
    ]


def _jet_branches(codec: Codec, layout: str) -> dict[str, np.dtype]:
    """Branch name -> type of the Jets tree."""
    if layout == "packed":
        return {PACKED_BRANCH: np.dtype((np.uint8, (-(-codec.bits_per_jet // 8),)))}
    return {name: dtype for _, name, dtype in _field_branches(codec)}


def _jet_arrays(codes: np.ndarray, codec: Codec, layout: str) -> dict[str, np.ndarray]:
    if layout == "packed":
        return {PACKED_BRANCH: pack_codes(codes, codec.field_bits)}
    return {name: codes[:, column].astype(dtype) for column, name, dtype in _field_branches(codec)}


def _codes_from_arrays(arrays: dict[str, np.ndarray], codec: Codec, layout: str, n_jets: int) -> np.ndarray:
    if layout == "packed":
        return unpack_codes(np.asarray(arrays[PACKED_BRANCH]).reshape(n_jets, -1), codec.field_bits)
    codes = np.zeros((n_jets, len(codec.field_bits)), dtype=np.int64)
    for column, name, _ in _field_branches(codec):
        codes[:, column] = arrays[name]
    return codes


# ------------------------------------------------------------------------------------------------ files


def root_compression(spec: str):
    """``zstd``, ``lzma:9``, ``zlib:1``, ``lz4`` or ``none`` -> an uproot compression setting."""
    import uproot

    name, _, level = spec.lower().partition(":")
    if name == "none" and not level:
        return None
    if name not in _COMPRESSIONS or (level and not level.isdigit()):
        raise UserError(
            f"compression must be one of {', '.join(_COMPRESSIONS)} or none, optionally :LEVEL; got {spec!r}"
        )
    algorithm, default = _COMPRESSIONS[name]
    return getattr(uproot, algorithm)(int(level) if level else default)


def _temporary(out: Path, force: bool) -> Path:
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    if out.is_dir():
        raise UserError(f"{out} is a directory, not a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


@dataclass
class StorageResult:
    """What one compress or decompress did, with its timings (seconds) split by stage."""

    source: str
    out: str
    events: int
    jets: int
    bytes: int
    seconds: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_per_jet(self) -> float:
        return self.bytes / self.jets if self.jets else float("nan")

    def to_json(self) -> dict[str, Any]:
        total = sum(self.seconds.values())
        return {
            "source": self.source,
            "out": self.out,
            "events": self.events,
            "jets": self.jets,
            "bytes": self.bytes,
            "bytes_per_jet": round(self.bytes_per_jet, 4),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()} | {"total": round(total, 4)},
            "jets_per_s": round(self.jets / total) if total > 0 else None,
        } | self.extra


def compress_file(
    codec: Codec,
    data: str | Path,
    out: str | Path,
    *,
    layout: str = DEFAULT_LAYOUT,
    compression: str = DEFAULT_COMPRESSION,
    step_size: int | str = DEFAULT_STEP_EVENTS,
    force: bool = False,
    selection: JetSelection | None = None,
) -> StorageResult:
    """Compress the jets of one ROOT file (read with ``data.iter_jets`` as ``selection`` says; default: every jet)
    into ``out``, written atomically."""
    selection = selection or JetSelection()
    import uproot

    from .data import iter_jets

    if layout not in LAYOUTS:
        raise UserError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if codec.bits_per_jet == 0:
        raise UserError(f"{codec.name} sends 0 bits per jet: nothing to store")
    setting = root_compression(compression)
    out = Path(out)
    temporary = _temporary(out, force)
    seconds = {"read": 0.0, "encode": 0.0, "write": 0.0}
    digest = hashlib.sha256(",".join(codec.variables).encode())  # model.data_hash of the same table
    events = jets = dropped = 0
    saturated = np.zeros(len(codec.field_bits), dtype=np.int64)
    first = None
    try:
        with uproot.recreate(temporary, compression=setting) as root_file:
            event_tree = root_file.mktree(EVENTS_TREE, {"nJet": np.int32}, title=EVENTS_TREE)
            jet_tree = root_file.mktree(JETS_TREE, _jet_branches(codec, layout), title="trigcomp codes, one per jet")
            chunks = iter_jets(data, variables=codec.variables, step_size=step_size, **dataclasses.asdict(selection))
            while True:
                start = time.perf_counter()
                chunk = next(chunks, None)
                seconds["read"] += time.perf_counter() - start
                if chunk is None:
                    break
                first = first or chunk
                start = time.perf_counter()
                digest.update(np.ascontiguousarray(chunk.values, dtype=np.float32).tobytes())
                codes, chunk_saturated = codec.encode(chunk.values)
                arrays = _jet_arrays(codes, codec, layout)
                counts = np.bincount(chunk.event_index - chunk.extra["first_event"], minlength=chunk.n_events)
                seconds["encode"] += time.perf_counter() - start
                start = time.perf_counter()
                event_tree.extend({"nJet": counts.astype(np.int32)})
                if len(codes):
                    jet_tree.extend(arrays)
                seconds["write"] += time.perf_counter() - start
                saturated += chunk_saturated
                events += chunk.n_events
                jets += len(codes)
                dropped += chunk.dropped_nonfinite
            metadata = {
                "format": FORMAT,
                "codec": codec.to_json(),
                "codec_kind": codec.kind,
                "codec_hash": codec_hash(codec),
                "variables": list(codec.variables),
                "field_names": list(codec.field_names),
                "field_bits": list(codec.field_bits),
                "bits_per_jet": codec.bits_per_jet,
                "layout": layout,
                "trigcomp": __version__,
                "input": {
                    "files": [str(data)],
                    "data_hash": digest.hexdigest()[:16],
                    "preset": first.preset,
                    "selection": {
                        k: v if k != "mapping" or v is None else str(v)
                        for k, v in dataclasses.asdict(selection).items()
                    },
                    "events": events,
                    "jets": jets,
                    "dropped_nonfinite": dropped,
                },
                "saturated": dict(zip(codec.field_names, saturated.tolist())),
            }
            root_file[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    extra = {
        "codec": codec.name,
        "bits_per_jet": codec.bits_per_jet,
        "layout": layout,
        "compression": compression,
        "saturated": metadata["saturated"],
        "data_hash": metadata["input"]["data_hash"],
    }
    return StorageResult(str(data), str(out), events, jets, out.stat().st_size, seconds, extra)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a compressed file; a UserError for anything that is not one."""
    from .data import _open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    with _open(str(path)) as root_file, _damaged(path):
        keys = set(root_file.keys(cycle=False))
        if METADATA_KEY not in keys or EVENTS_TREE not in keys or JETS_TREE not in keys:
            raise UserError(f"{path} is not a trigcomp compressed file (no {METADATA_KEY} metadata)")
        try:
            metadata = json.loads(str(root_file[METADATA_KEY]))
        except (json.JSONDecodeError, TypeError) as err:
            raise UserError(f"{path}: unreadable {METADATA_KEY} metadata ({err})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise UserError(f"{path}: unknown compressed format {found!r} (this trigcomp reads {FORMAT})")
    missing = [key for key in _METADATA_KEYS if key not in metadata]
    if missing or not isinstance(metadata["codec"], dict) or metadata["layout"] not in LAYOUTS:
        raise UserError(
            f"{path}: incomplete {METADATA_KEY} metadata (missing or bad: {', '.join(missing) or 'codec, layout'})"
        )
    return metadata


def _codec_for(metadata: dict[str, Any], path: Path, model: str | Path | None) -> Codec:
    """The codec that decodes ``path``: ``model`` if given (it must match), else the one the metadata describes."""
    if model is not None:
        codec = load_storage_codec(model, engine="tensorflow")  # decoding never runs the encoder
    elif metadata["codec_kind"] == AutoencoderCodec.kind:
        recorded = metadata["codec"].get("model")
        if not recorded or not Path(recorded).is_dir():
            raise UserError(f"{path} was compressed with the autoencoder {recorded}: give its model dir with --model")
        codec = load_storage_codec(recorded, engine="tensorflow")
    else:
        codec = codec_from_json(metadata["codec"])
    if codec_hash(codec) != metadata["codec_hash"] or list(codec.field_bits) != metadata["field_bits"]:
        raise UserError(
            f"{model or 'the codec'} does not match {path}: hash {codec_hash(codec)}, the file was compressed "
            f"with {metadata['codec_kind']} {metadata['codec_hash']}"
        )
    return codec


@contextlib.contextmanager
def _damaged(path: Path):
    """Reading errors of a damaged compressed file as a UserError (a truncated basket, a missing branch)."""
    from .data import _CORRUPT_FILE_ERRORS, _damage

    try:
        yield
    except _CORRUPT_FILE_ERRORS as exc:
        raise _damage(str(path), exc) from None


def decompress_file(
    path: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    *,
    compression: str = DEFAULT_COMPRESSION,
    step_size: int = DEFAULT_STEP_EVENTS,
    force: bool = False,
) -> StorageResult:
    """Decode a compressed file into NanoAOD-style ``Events`` (``nJet``, float32 ``Jet_<variable>``), atomically."""
    import awkward as ak
    import uproot

    from .data import _open

    path, out = Path(path), Path(out)
    metadata = read_metadata(path)
    codec = _codec_for(metadata, path, model)
    setting = root_compression(compression)
    if not isinstance(step_size, int) or step_size < 1:
        raise UserError(f"step_size must be a number of events >= 1, got {step_size!r}")
    temporary = _temporary(out, force)
    seconds = {"read": 0.0, "decode": 0.0, "write": 0.0}
    events = jets = 0
    try:
        with _open(str(path)) as source, uproot.recreate(temporary, compression=setting) as root_file:
            with _damaged(path):
                event_tree, jet_tree = source[EVENTS_TREE], source[JETS_TREE]
            tree = None
            for start_event in range(0, event_tree.num_entries, step_size):
                start = time.perf_counter()
                with _damaged(path):
                    stop = start_event + step_size
                    counts = event_tree["nJet"].array(library="np", entry_start=start_event, entry_stop=stop)
                    n_jets = int(counts.sum())
                    arrays = jet_tree.arrays(library="np", entry_start=jets, entry_stop=jets + n_jets)
                if len(arrays) and min(len(a) for a in arrays.values()) != n_jets:
                    raise UserError(f"{path}: the Jets tree has fewer jets than Events/nJet counts")
                seconds["read"] += time.perf_counter() - start
                start = time.perf_counter()
                values = codec.decode(_codes_from_arrays(arrays, codec, metadata["layout"], n_jets))
                columns = {
                    v: ak.unflatten(values[:, i].astype(np.float32), counts) for i, v in enumerate(codec.variables)
                }
                seconds["decode"] += time.perf_counter() - start
                start = time.perf_counter()
                if tree is None:
                    tree = root_file.mktree(EVENTS_TREE, {"Jet": ak.zip(columns)}, title=EVENTS_TREE)
                else:
                    tree.extend({"Jet": ak.zip(columns)})
                seconds["write"] += time.perf_counter() - start
                events += len(counts)
                jets += n_jets
            root_file["trigcomp_decompressed"] = json.dumps(
                {"source": str(path), "codec_hash": metadata["codec_hash"], "trigcomp": __version__}, sort_keys=True
            )
        if jets != metadata["input"]["jets"]:
            raise UserError(f"{path}: {jets} jets decoded, the metadata says {metadata['input']['jets']}")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    extra = {"codec": codec.name, "codec_hash": metadata["codec_hash"], "variables": list(codec.variables)}
    return StorageResult(str(path), str(out), events, jets, out.stat().st_size, seconds, extra)


# ------------------------------------------------------------------------------------------------ many files


@functools.lru_cache(maxsize=4)
def _cached_codec(model: str, engine: str) -> Codec:
    """One codec per worker process and model: building an autoencoder's encoder takes seconds."""
    return load_storage_codec(model, engine)


def _compress_task(model: str, engine: str, data: str, out: str, options: dict[str, Any]) -> StorageResult:
    return compress_file(_cached_codec(model, engine), data, out, **options)


def output_paths(files: list[str], out: str | Path, force: bool) -> list[Path]:
    """Where each input's compressed file goes: ``out`` itself for one input, ``out/<input name>`` for several."""
    out = Path(out)
    if len(files) == 1:
        targets = [out]
    else:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} must be a directory when compressing {len(files)} files")
        names = [Path(f).name for f in files]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UserError(f"several inputs are named {', '.join(repeated)}: their outputs in {out} would collide")
        targets = [out / name for name in names]
    inputs = {Path(f).resolve() for f in files}
    for target in targets:
        if target.resolve() in inputs:
            raise UserError(f"the output {target} is one of the inputs")
        if target.exists() and not force:
            raise UserError(f"{target} already exists; pass --force to overwrite it")
    return targets


def compress_files(
    model: str | Path,
    data: list[str],
    out: str | Path,
    *,
    engine: str = "native",
    workers: int | None = None,
    scheduler: str | None = None,
    **options: Any,
) -> list[StorageResult]:
    """Compress every file of ``data`` (names or globs), one output per input. One file without ``workers`` or
    ``scheduler`` runs here; otherwise one task per file on Dask (``cluster.dask_client``)."""
    from .cluster import dask_client
    from .data import expand_paths

    files = [str(Path(f).resolve()) for f in expand_paths(data)]  # workers may run in another directory
    model = str(Path(model).resolve())
    targets = output_paths(files, out, options.get("force", False))
    root_compression(options.get("compression", DEFAULT_COMPRESSION))  # a bad setting fails before any work
    codec = _cached_codec(model, engine)  # a bad model fails here, not on a worker
    if len(files) == 1 and workers is None and scheduler is None:
        return [compress_file(codec, files[0], targets[0], **options)]
    try:
        with dask_client(workers, scheduler) as client:
            for target in targets:  # only once a cluster is there: a refused --scheduler leaves no directory
                target.parent.mkdir(parents=True, exist_ok=True)
            futures = [
                client.submit(_compress_task, model, engine, f, str(t), options, pure=False)
                for f, t in zip(files, targets)
            ]
            return client.gather(futures)
    finally:  # a worker stopped mid-file (interrupt, failure) leaves its temporary behind
        for target in targets:
            for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
                leftover.unlink(missing_ok=True)
