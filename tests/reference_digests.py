"""sha256 digests of the firmware projects of the reference models, recomputed from the repository.

``tests/data/reference_project_digests.json`` holds the digests test_reference_projects compares against, so a
refactoring that changes one byte of a reference project fails. They were recorded before the encoder description
(trigcomp.ir) replaced the three hand-built chains, and the refactoring reproduced them byte for byte; they were
re-recorded once after two intended changes, checked with ``diff -r`` against the projects of the previous release:
the manifests gained ``schema_version`` and the top gained the anomaly-score hook (compiled out without
``--anomaly-score``: ``TRIGCOMP_SCORE_BITS 0``, ``trigcomp_anomaly.h``). Regenerate it only for an intended firmware
change: ``python -m tests.reference_digests > tests/data/reference_project_digests.json``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MODELS = ("jet4", "jet10")
TB_JETS = 200
DIGEST_FILE = Path(__file__).parent / "data" / "reference_project_digests.json"


def _hls(args: list[str]) -> None:
    from trigcomp.cli import main

    if main(["hls", "--board", "vu13p", "--tb-jets", str(TB_JETS), "--json", *args]) != 0:
        raise RuntimeError(f"trigcomp hls {' '.join(args)} failed")


def hls_digests(work: Path) -> dict[str, str]:
    """``trigcomp hls`` of models/jet4, models/jet10 (on data/qcd.root) and the imported ECON-T Conv2D example."""
    import contextlib
    import io
    import sys

    import numpy as np

    from trigcomp.hls import project_digest

    sys.path.insert(0, str(ROOT / "examples"))
    from econ_t_encoder import build_encoder, example_cells

    digests = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for name in REFERENCE_MODELS:
            _hls(
                [
                    "--model",
                    str(ROOT / "models" / name),
                    "--data",
                    str(ROOT / "data" / "qcd.root"),
                    "--out",
                    str(work / name),
                ]
            )
            digests[f"hls/{name}"] = project_digest(work / name)
        build_encoder("conv", 0).save(work / "econ_t_conv.h5")
        np.save(work / "cells.npy", example_cells(TB_JETS, 0))
        from trigcomp.cli import main

        assert main(["import", "--keras", str(work / "econ_t_conv.h5"), "--out", str(work / "econ_t"), "--json"]) == 0
        _hls(["--model", str(work / "econ_t"), "--data", str(work / "cells.npy"), "--out", str(work / "econ_t_hls")])
    digests["hls/econ_t_conv"] = project_digest(work / "econ_t_hls")
    return digests


def rtl_digests(work: Path) -> dict[str, str]:
    """The RTL project (da4ml Verilog, both variants, manifest, estimate) of models/jet4, written from the model's
    encoder description as `trigcomp rtl` does (recorded on main from its QKeras firmware encoder)."""
    from trigcomp.hls import project_digest
    from trigcomp.model import load_model
    from trigcomp.rtl import write_rtl_project

    model = load_model(ROOT / "models" / "jet4")
    manifest = {"model": {"name": model.name, "hash": model.hash, "variables": list(model.variables)}}
    write_rtl_project(model.firmware_ir, work / "jet4_rtl", manifest=manifest)  # as `trigcomp rtl` does
    return {"rtl/jet4": project_digest(work / "jet4_rtl")}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        digests = hls_digests(Path(tmp)) | rtl_digests(Path(tmp))
    print(json.dumps(digests, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
