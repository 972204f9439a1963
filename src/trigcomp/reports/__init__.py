"""Latency and resource reports, checked against budgets (``trigcomp report``).

Layout: ``parsers/`` (one module per report format: sniff + parse -> record), ``discover`` (which reports of a
project or directory are read), ``combine`` (-> ``SynthesisReport``), ``budgets`` (TOML limits and the check),
``render`` (terminal and Markdown tables).

What is read
------------
``read_report(PATH)`` takes a generated project (a directory with ``trigcomp.json``), any directory holding
reports, or a single report file, and reads:

* Vivado HLS / Vitis HLS C-synthesis reports, ``*_csynth.xml`` (preferred) or ``*_csynth.rpt``: latency
  best/worst in cycles and ns, initiation interval (II), target/estimated clock, HLS resource estimates and the
  device's available resources;
* Vivado ``report_utilization`` reports (post-synthesis or post-implementation, 7-series and UltraScale(+) row
  names): LUT/FF/DSP/BRAM/URAM used and available. When present they win for the resource numbers; the HLS
  estimates stay in the JSON under ``resources_by_source``;
* Vivado ``report_timing_summary`` reports: worst slacks; the achieved clock period (period - WNS) then replaces
  the HLS clock estimate;
* ``estimate.json`` written by the open RTL path (``trigcomp rtl``): used for whatever no vendor report gives, and
  always labelled as an estimate (``source`` starts with ``estimate``), never as a synthesis result.

BRAM is counted in 18 Kb blocks everywhere (a Vivado "Block RAM Tile" is two of them). Percentages are of the
device totals: ``--board``'s when given, else the report's own available resources, else the project's board.

``source`` (and ``latency_from``, ``resources_from``, ...) name what each number comes from, "+"-joined, vendor
reports first: ``csynth`` (Vivado/Vitis HLS C synthesis), ``vivado_synth`` / ``vivado_impl`` (report_utilization
after synthesis / after placement or routing), the same with ``_timing`` (report_timing_summary), and the estimate's
own source (``estimate:da4ml``, ``estimate:yosys+da4ml``). ``result_json`` adds ``within_budget`` (null without a
budget) and the budget rows to ``SynthesisReport.to_json()``.

A report of another top or another part found in a project (``trigcomp.json`` says which) is refused
(``UserError``) unless ``read_report(..., force=True)``, which reads it with a warning.
Budget files: see ``trigcomp.reports.budgets``.
"""

from .budgets import (
    Budget,
    BudgetCheck,
    BudgetRow,
    Limit,
    budget_presets,
    check_budget,
    load_budget,
    result_json,
)
from .combine import SynthesisReport, read_report
from .parsers.common import RESOURCES
from .parsers.estimate import Estimate
from .render import render_markdown, render_text

__all__ = [
    "RESOURCES",
    "Budget",
    "BudgetCheck",
    "BudgetRow",
    "Estimate",
    "Limit",
    "SynthesisReport",
    "budget_presets",
    "check_budget",
    "load_budget",
    "read_report",
    "render_markdown",
    "render_text",
    "result_json",
]
