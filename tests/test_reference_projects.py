"""The reference models' firmware projects stay byte for byte what they were (tests/reference_digests.py)."""

from __future__ import annotations

import json

import pytest

from .reference_digests import DIGEST_FILE, hls_digests, rtl_digests

pytestmark = pytest.mark.slow


def test_hls_projects_of_the_reference_models_are_byte_identical(tmp_path):
    recorded = json.loads(DIGEST_FILE.read_text())
    assert hls_digests(tmp_path) == {key: value for key, value in recorded.items() if key.startswith("hls/")}


def test_rtl_project_of_jet4_is_byte_identical(tmp_path):
    pytest.importorskip("da4ml")
    recorded = json.loads(DIGEST_FILE.read_text())
    assert rtl_digests(tmp_path) == {"rtl/jet4": recorded["rtl/jet4"]}
