"""trigcomp.events: the DarkMachines CSV reader and writer, the same events as ROOT, event slots; the generator's
event writer (Pythia 8 + FastJet) in both directions."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trigcomp.errors import UserError
from trigcomp.events import (
    EVENT_VARIABLES,
    OBJECT_TYPES,
    inspect_events,
    load_event_table,
    read_events,
    slot_names,
    to_slots,
    write_events,
)

SAMPLE = Path(__file__).parent / "data" / "darkmachines_sample.csv"
HAVE_GENERATORS = all(importlib.util.find_spec(name) is not None for name in ("pythia8mc", "fastjet"))


def test_reads_the_published_layout():
    records = read_events(SAMPLE)
    assert list(records.event_id) == [1, 2, 3, 4]
    assert records.process_of_events() == ["ttbar", "njets", "z_jets", "njets"]
    assert records.weight[2] == 0.5
    assert records.met[0] == 62803.5 and records.met_phi[0] == -2.35464
    assert list(records.counts) == [4, 2, 5, 6]
    assert records.objects_per_type() == {"j": 10, "b": 2, "e-": 1, "e+": 1, "m-": 1, "m+": 1, "g": 1}
    # second object of event 1: b,300224,179662,1.13016,-0.371398 (MeV, as written)
    assert OBJECT_TYPES[records.types[1]] == "b"
    assert records.kinematics[1].tolist() == [300224.0, 179662.0, 1.13016, -0.371398]
    assert records.kinematics[4, 0] == 1.0924e06


def test_csv_to_root_to_csv_is_the_same_text(tmp_path):
    records = read_events(SAMPLE)
    write_events(records, tmp_path / "events.root")
    back = read_events(tmp_path / "events.root")
    for name in ("event_id", "process", "weight", "met", "met_phi", "counts", "types", "kinematics"):
        assert np.array_equal(getattr(back, name), getattr(records, name)), name
    write_events(back, tmp_path / "events.csv")
    # the same text, except that numbers are written in their shortest plain form (1.0924e+06 -> 1092400)
    assert (tmp_path / "events.csv").read_text() == SAMPLE.read_text().replace("1.0924e+06", "1092400")


def test_writing_refuses_an_existing_file_and_unknown_suffix(tmp_path):
    records = read_events(SAMPLE)
    write_events(records, tmp_path / "a.csv")
    with pytest.raises(UserError, match="exists"):
        write_events(records, tmp_path / "a.csv")
    with pytest.raises(UserError, match=".csv"):
        write_events(records, tmp_path / "a.txt")


@pytest.mark.parametrize(
    "line, message",
    [
        ("7;ttbar;1;100;", "expected event_id"),
        ("x;ttbar;1;100;0.1;", "event_id 'x' is not an integer"),
        ("7;ttbar;1;abc;0.1;", "MET 'abc' is not a number"),
        ("7;ttbar;1;100;nan;", "METphi is nan"),
        ("7;ttbar;1;100;0.1;q,1,2,3,4;", "object 1 has type 'q'"),
        ("7;ttbar;1;100;0.1;j,1,2,3;", "object 1 'j,1,2,3' is not type,E,pt,eta,phi"),
        ("7;ttbar;1;100;0.1;j,1,2,3,4;j,1,2,x,4;", "object 2 eta 'x' is not a number"),
        ("7;;1;100;0.1;", "empty process_id"),
    ],
)
def test_bad_line_is_refused_naming_its_number(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(SAMPLE.read_text().splitlines()[0] + "\n\n" + line + "\n")
    with pytest.raises(UserError, match=f"bad.csv:3: {message}"):
        read_events(path)


def test_slots_order_pad_and_flag():
    values, present = to_slots(read_events(SAMPLE))
    column = {name: i for i, name in enumerate(EVENT_VARIABLES)}
    slot = {name: i for i, name in enumerate(slot_names())}
    # event 4: six jets (one b-jet, the lowest in pt) -> the 4 leading, in GeV, no b flag among them
    assert values[3, [column[f"j{i}_pt"] for i in range(4)]].tolist() == pytest.approx(
        [201.231, 185.121, 31.2259, 28.3311]
    )
    assert values[3, column["j3_b"]] == 0 and present[3, slot["j3"]]
    # event 1: the b-jet is the second jet by pt; an electron (e-: charge -1); no muon -> zero-padded, not present
    assert values[0, column["j1_b"]] == 1 and values[0, column["j1_pt"]] == pytest.approx(179.662)
    assert values[0, column["e0_q"]] == -1 and values[0, column["e0_pt"]] == pytest.approx(79.2533)
    assert not present[0, slot["m0"]] and values[0, [column["m0_pt"], column["m0_eta"], column["m0_q"]]].tolist() == [
        0,
        0,
        0,
    ]
    # event 3: m- (51.2 GeV) leads m+ (45.7 GeV); e+ has charge +1; the photon fills g0
    assert values[2, column["m0_q"]] == -1 and values[2, column["m1_q"]] == 1
    assert values[2, column["e0_q"]] == 1 and present[2, slot["g0"]] and not present[2, slot["g1"]]
    assert values[2, column["MET"]] == pytest.approx(81.1227) and values[2, column["METphi"]] == 0.201133


def test_event_table_is_one_row_per_event():
    table = load_event_table([str(SAMPLE)], "event")
    assert table.variables == EVENT_VARIABLES and len(table) == 4 and table.n_events == 4
    assert list(table.extra["process"]) == ["ttbar", "njets", "z_jets", "njets"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trigcomp.cli", *args], check=False, capture_output=True, text=True)


def test_inspect_reports_events_and_objects_per_type(tmp_path):
    completed = _cli("inspect", str(SAMPLE), "--json")
    assert completed.returncode == 0, completed.stderr
    payload = json.loads(completed.stdout)
    assert payload["events"] == 4 and payload["objects"]["j"] == 10 and payload["objects"]["g"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("1;ttbar;1;100;0.1;j,1,2;\n")
    completed = _cli("inspect", str(bad), "--json")
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "bad.csv:1: object 1" in json.loads(completed.stdout)["error"]


@pytest.mark.skipif(not HAVE_GENERATORS, reason="pythia8mc and fastjet are not installed")
def test_generated_events_round_trip_csv_and_root(tmp_path):
    from trigcomp.eventgen import generate_events

    result = generate_events("ttbar", 30, seed=5, out=tmp_path / "tt.csv", progress=False)
    assert result.events == 30 and result.objects["b"] > 0 and result.objects["j"] > 0
    records = read_events(tmp_path / "tt.csv")
    assert records.objects_per_type() == result.objects and records.process_names == ("ttbar",)
    pt = records.kinematics[:, 1] / 1000
    assert (pt > 15).all() and (np.abs(records.kinematics[:, 2]) < 2.8).all()
    # the same events straight to ROOT: the same numbers as the CSV read back
    generate_events("ttbar", 30, seed=5, out=tmp_path / "tt.root", progress=False)
    from_root = read_events(tmp_path / "tt.root")
    assert np.array_equal(from_root.kinematics, records.kinematics) and np.array_equal(from_root.met, records.met)
    assert inspect_events(tmp_path / "tt.root").objects == result.objects
