"""JUnit XML results, the format CI systems render as test reports (GitLab ``artifacts:reports:junit``,
GitHub Actions through a JUnit-report action): one ``<testcase>`` per trigcomp check.

The layout is the common denominator both read: ``<testsuites>`` holding one ``<testsuite>`` with ``tests``,
``failures``, ``errors``, ``skipped`` and ``time`` attributes, each ``<testcase>`` with ``name``, ``classname`` and
``time``, a failed case carrying ``<failure message="...">`` and any longer text in ``<system-out>``.
No timestamp or host name is written, so the same results give the same file.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trigcomp.errors import UserError

# XML 1.0 cannot carry these characters at all, escaped or not; a compiler message may contain them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class JUnitCase:
    """One check as a JUnit test case: ``failure`` is None when it passed, else a one-line message."""

    name: str
    classname: str
    failure: str | None = None
    details: str = ""
    time_s: float = 0.0


def _text(value: str) -> str:
    return _XML_INVALID.sub("?", value)


def _one_line(message: str) -> str:
    return " ".join(_text(message).split())


def junit_tree(suite: str, cases: Sequence[JUnitCase]) -> ET.ElementTree:
    """The XML tree for ``cases`` in one suite named ``suite``."""
    failures = sum(case.failure is not None for case in cases)
    total_time = f"{sum(case.time_s for case in cases):.3f}"
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "time": total_time}
    root = ET.Element("testsuites", {"name": _text(suite)} | counts)
    testsuite = ET.SubElement(root, "testsuite", {"name": _text(suite)} | counts | {"skipped": "0"})
    for case in cases:
        element = ET.SubElement(
            testsuite,
            "testcase",
            {"name": _text(case.name), "classname": _text(case.classname), "time": f"{case.time_s:.3f}"},
        )
        if case.failure is not None:
            failure = ET.SubElement(element, "failure", {"message": _one_line(case.failure), "type": "CheckFailed"})
            failure.text = _one_line(case.failure)
        if case.details:
            ET.SubElement(element, "system-out").text = _text(case.details)
    ET.indent(root)
    return ET.ElementTree(root)


def _is_junit_file(path: Path) -> bool:
    try:
        return ET.parse(path).getroot().tag in ("testsuites", "testsuite")
    except (ET.ParseError, OSError):
        return False


def write_junit(path: str | Path, suite: str, cases: Sequence[JUnitCase]) -> None:
    """Write ``cases`` as JUnit XML to ``path`` atomically (a temporary file beside it, then a rename).

    A JUnit file from an earlier run is replaced, as CI re-runs expect; any other existing file is refused
    (a mistyped ``--junit model.json`` must not destroy it), as is a directory or an unwritable location.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--junit {path} is a directory; give a file name such as {path / 'junit.xml'}")
    if path.exists() and not _is_junit_file(path):
        raise UserError(f"--junit {path} exists and is not a JUnit XML file; refusing to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UserError(f"cannot write --junit {path}: {err.strerror or err}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            junit_tree(suite, cases).write(stream, encoding="utf-8", xml_declaration=True)
            stream.write(b"\n")
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write --junit {path}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
