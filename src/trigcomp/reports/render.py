"""Rendering: the same rows as an aligned terminal table or as Markdown; estimates are always labelled."""

from __future__ import annotations

from .budgets import NA, BudgetCheck, format_number
from .combine import SynthesisReport
from .parsers.common import ESTIMATE_PREFIX, RESOURCES

_ESTIMATE_BANNER = "ESTIMATE (not a synthesis result)"


def _with_unit(value: float | None, unit: str) -> str:
    if value is None:
        return NA
    if unit == "%":
        return f"{format_number(value, 3)} %"
    return format_number(value) if unit == "count" else f"{format_number(value)} {unit}"


def _from_estimate(report: SynthesisReport, origin: str | None) -> bool:
    """A number from the estimate inside a report that is otherwise from vendor tools (which says so per number)."""
    return not report.is_estimate and bool(origin) and origin.startswith(ESTIMATE_PREFIX)


def _summary_rows(report: SynthesisReport) -> list[tuple[str, str]]:
    tool = " ".join(filter(None, (report.tool, report.tool_version))) or NA
    clock = f"target {_with_unit(report.clock_target_ns, 'ns')}"
    if report.clock_estimated_ns is not None:
        clock += f", estimated {_with_unit(report.clock_estimated_ns, 'ns')} ({report.clock_estimated_from})"
    if report.clock_uncertainty_ns is not None:
        clock += f", uncertainty {_with_unit(report.clock_uncertainty_ns, 'ns')}"
    latency = (
        f"{format_number(report.latency_cycles_best)}..{format_number(report.latency_cycles_worst)} cycles, "
        f"{format_number(report.latency_ns_best)}..{_with_unit(report.latency_ns, 'ns')}"
        + (f" ({report.latency_from})" if report.latency_from else "")
        + (f" {_ESTIMATE_BANNER}" if _from_estimate(report, report.latency_from) else "")
    )
    interval = f"{format_number(report.ii)} (interval {format_number(report.interval_min)}..{format_number(report.ii)}"
    interval += f", pipeline {report.pipeline_type})" if report.pipeline_type else ")"
    if report.ii_target is not None:
        interval += f", target {report.ii_target}"
    rows = [
        ("source", report.source),
        ("tool", tool),
        ("top", report.top or NA),
        ("part", report.part or NA),
        ("clock", clock),
        ("latency", latency),
        ("II", interval),
    ]
    if report.timing:
        met = {True: "met", False: "NOT met", None: "no constrained paths"}[report.timing["met"]]
        slacks = f"WNS {_with_unit(report.timing['wns_ns'], 'ns')}, WHS {_with_unit(report.timing['whs_ns'], 'ns')}"
        rows.append(("timing", f"{slacks}: {met}"))
    if report.note:
        rows.append(("note", report.note))
    return rows


def _resource_table(report: SynthesisReport) -> tuple[list[str], list[list[str]]]:
    others = [name for name in report.resources_by_source if name != report.resources_from]
    origins = set(report.resources_available_from.values())
    # where the device totals come from: once in the header when they all come from one place, else per row
    shared_origin = origins.pop() if len(origins) == 1 else None
    headers = [
        "resource",
        f"used ({report.resources_from})" + (" ESTIMATE" if _from_estimate(report, report.resources_from) else ""),
        f"available ({shared_origin})" if shared_origin else "available",
        "% of device",
        *others,
    ]
    percent = report.resources_percent
    rows = []
    for name in RESOURCES:
        values = [report.resources.get(name), *(report.resources_by_source[o].get(name) for o in others)]
        if all(value is None for value in values):
            continue
        available = format_number(report.resources_available.get(name))
        if name in report.resources_available_from and not shared_origin:
            available += f" ({report.resources_available_from[name]})"
        rows.append(
            [
                name,
                format_number(values[0]),
                available,
                _with_unit(percent.get(name), "%"),
                *map(format_number, values[1:]),
            ]
        )
    return headers, rows


def _budget_table(report: SynthesisReport, check: BudgetCheck) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            row.quantity,
            _with_unit(row.value, row.unit) + (" (estimate)" if _from_estimate(report, row.value_from) else ""),
            _with_unit(row.limit, row.unit),
            _with_unit(row.margin, row.unit),
            "pass" if row.passed else "FAIL",
        ]
        for row in check.rows
    ]
    return ["quantity", "value", "limit", "margin", "result"], rows


def _verdict(check: BudgetCheck) -> str:
    failed = sum(not row.passed for row in check.rows)
    if not failed:
        return f"WITHIN BUDGET ({len(check.rows)} limits)"
    return f"OVER BUDGET ({failed} of {len(check.rows)} limits failed)"


def _text_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        # names left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(headers), "|" + "|".join([" --- "] + [" ---: "] * (len(headers) - 1)) + "|", *map(line, rows)]


def _render(report: SynthesisReport, check: BudgetCheck | None, markdown: bool) -> str:
    table = _markdown_table if markdown else _text_table

    def heading(text: str) -> list[str]:
        return ["", f"**{text}**", ""] if markdown else ["", text]

    def bullets(items: list[str]) -> list[str]:
        return [f"- {item}" if markdown else f"  {item}" for item in items]

    lines: list[str] = []
    if report.is_estimate:
        lines += [f"> **{_ESTIMATE_BANNER}**" if markdown else f"*** {_ESTIMATE_BANNER} ***", ""]
    summary = _summary_rows(report)
    if markdown:
        lines += [f"- **{key}**: {value}" for key, value in summary]
    else:
        width = max(len(key) for key, _ in summary)
        lines += [f"{key.ljust(width)}  {value}" for key, value in summary]
    lines += ["", *table(*_resource_table(report))]
    if check is not None:
        description = f": {check.budget.description}" if check.budget.description else ""
        lines += heading(f"budget {check.budget.name}{description}")
        lines += table(*_budget_table(report, check))
        estimated = sorted({row.value_from for row in check.rows if _from_estimate(report, row.value_from)})
        if estimated:
            lines += ["", f"(estimate): {_ESTIMATE_BANNER}, from {', '.join(estimated)}"]
        lines += ["", f"**{_verdict(check)}**" if markdown else _verdict(check)]
    lines += heading("files read:") + bullets([f"{entry['path']} ({entry['kind']})" for entry in report.files])
    if report.warnings:
        lines += heading("warnings:") + bullets(list(report.warnings))
    return "\n".join(lines) + "\n"


def render_text(report: SynthesisReport, check: BudgetCheck | None = None) -> str:
    """An aligned plain-text report for terminals; estimates are labelled as such."""
    return _render(report, check, markdown=False)


def render_markdown(report: SynthesisReport, check: BudgetCheck | None = None) -> str:
    return _render(report, check, markdown=True)
