"""Each verb's checks as JUnit test cases (``--junit FILE`` on ``csim``, ``report`` and ``rtl``), so a CI system
shows which check failed. The verb exits 1 exactly when a ``mismatches`` or ``budget`` case fails; the other cases
(``rtl``'s plain QKeras agreement, csim's saturation accounting) say more about a run without changing its exit."""

from __future__ import annotations

from pathlib import Path

from .junit import JUnitCase


def design_name(path: str | Path) -> str:
    """A design's name from its path when nothing better is known: the directory or the report file's stem."""
    return Path(path).stem or Path(path).resolve().name


def csim_cases(result, design: str, stage: str = "csim") -> list[JUnitCase]:
    """A csim result (trigcomp.csim.CsimResult) of ``design`` (the model's name): mismatches over all jets, on data
    and on adversarial jets, the weights proof, and whether the saturation counts are consistent. A codec csim or
    RTL result (trigcomp.codec_hls) gives the same cases, with ``stage`` naming the check."""
    classname = f"trigcomp.{stage}.{design}"
    reference = result.reference
    cases = [
        JUnitCase(
            "mismatches",
            classname,
            f"{result.mismatches} of {result.jets} jets differ from {reference}" if result.mismatches else None,
            details=(
                f"{result.jets} jets ({result.data_jets} data, {result.adversarial_jets} adversarial), "
                f"{result.mismatches} mismatches; {result.quality_text()}"
                + (f"\nfirst mismatch: {result.first_mismatch}" if result.first_mismatch else "")
            ),
            time_s=float(sum(result.seconds.values())),
        )
    ]
    for name, failure, total in _mismatches_by_kind(result):
        cases.append(JUnitCase(f"mismatches ({name})", classname, failure, details=f"{total} {name}"))
    weights = getattr(result, "weights", None)  # codec projects have no weight files
    if weights:  # synthesised (.h) = simulated (.txt) = model weights
        summary = weights.get("summary", "")
        cases.append(JUnitCase("weights proof", classname, None if weights.get("passed") else summary, details=summary))
    saturated = result.saturated
    # every kind with both counts (input, latent): at most one clipped jet per clipped value, and no more than jets
    kinds = [key[: -len("_jets")] for key in saturated if key.endswith("_jets") and key[:-5] + "_values" in saturated]
    inconsistent = [
        kind for kind in kinds if not saturated[f"{kind}_jets"] <= min(saturated[f"{kind}_values"], result.jets)
    ]
    cases.append(
        JUnitCase(
            "saturation accounting",
            classname,
            f"inconsistent saturation counts for {', '.join(inconsistent)}: {saturated}" if inconsistent else None,
            details="; ".join(
                f"{kind}: {saturated[f'{kind}_values']} values clipped in {saturated[f'{kind}_jets']} jets"
                for kind in kinds
            ),
        )
    )
    return cases


def _mismatches_by_kind(result) -> list[tuple[str, str | None, int]]:
    """(kind, failure or None, jets of that kind) for data and adversarial jets.

    ``mismatch_rows`` holds the first mismatching rows in ascending order, and data jets come before adversarial
    ones: once a listed row is adversarial (or every mismatch is listed) the data count is complete and the rest
    are adversarial; otherwise only a lower bound for data jets is known."""
    rows = result.mismatch_rows
    data_bad = sum(row < result.data_jets for row in rows)
    complete = len(rows) == result.mismatches or data_bad < len(rows)
    counts = {"data jets": data_bad, "adversarial jets": result.mismatches - data_bad if complete else None}
    totals = {"data jets": result.data_jets, "adversarial jets": result.adversarial_jets}
    kinds = []
    for name, count in counts.items():
        if count is None:
            failure = f"unknown: the first {len(rows)} of {result.mismatches} mismatching jets listed are all data jets"
        elif count:
            at_least = "" if complete else "at least "
            failure = f"{at_least}{count} of {totals[name]} {name} differ from {result.reference}"
        else:
            failure = None
        kinds.append((name, failure, totals[name]))
    return kinds


def report_cases(report, check, design: str) -> list[JUnitCase]:
    """One case per budget line (``check``: trigcomp.reports.BudgetCheck, or None: one case that the reports
    were read, with their numbers)."""
    classname = f"trigcomp.report.{design}"
    summary = f"source {report.source}; files: {', '.join(entry['path'] for entry in report.files)}"
    if report.warnings:
        summary += "\nwarnings: " + "; ".join(report.warnings)
    if check is None:
        return [JUnitCase("read report", classname, details=summary)]
    cases = []
    for row in check.rows:
        unit = "" if row.unit == "count" else f" {row.unit}"
        said = "not given by the reports" if row.value is None else f"{row.value:g}{unit}"
        cases.append(
            JUnitCase(
                # an estimate says so in the test's name, where a CI dashboard shows it
                f"budget {row.quantity}" + (" (estimate)" if (row.value_from or "").startswith("estimate") else ""),
                classname,
                None if row.passed else f"{row.quantity} {said} > limit {row.limit:g}{unit} ({check.budget.name})",
                details=f"{row.quantity}: {said}, limit {row.limit:g}{unit}, from {row.value_from}\n{summary}",
            )
        )
    return cases


def rtl_cases(result, design: str) -> list[JUnitCase]:
    """An RTL result (trigcomp.rtl.RtlResult) of ``design`` (the model's name): per Verilog variant, firmware
    mismatches (what the exit code counts) and plain word-by-word agreement with QKeras."""
    classname = f"trigcomp.rtl.{design}"
    cases = []
    for variant, comparison in result.comparisons.items():
        details = (
            f"{comparison.jets} jets; {comparison.mismatches} differ from QKeras, {comparison.exact_mismatches} from "
            f"exact fixed-point arithmetic; QKeras inexact on {comparison.qkeras_inexact_jets}; "
            f"{comparison.saturated_jets} jets with saturated inputs"
        )
        seconds = float(result.seconds.get(f"verilator_{variant}", 0.0))
        cases += [
            JUnitCase(
                f"{variant}: mismatches",
                classname,
                f"{comparison.firmware_errors} of {comparison.jets} jets: the firmware differs from QKeras and "
                "from exact arithmetic"
                if comparison.firmware_errors
                else None,
                details=details,
                time_s=seconds,
            ),
            JUnitCase(
                f"{variant}: QKeras agreement",
                classname,
                f"{comparison.mismatches} of {comparison.jets} jets differ from QKeras word by word "
                f"({comparison.qkeras_inexact_jets} where QKeras itself is inexact)"
                if comparison.mismatches
                else None,
                details=details,
            ),
        ]
    return cases
