"""A row is read in the conventions of the harness its source names (dataset.harness_of), not by its id prefix: a
copy of a shipped source under another prefix (another commit of the same benchmark, a file a user assembled, a
held-out set) maps exactly as the shipped rows do. Before, 1,300 such rows (every training and memory row, the
norms, vidur's small ops, torchao's GEMMs) were unmapped or priced by the wrong mapper once renamed."""

import dataclasses

import pytest

from accelscope.measure.dataset import MeasuredRow, harness_of, load_rows, source_of
from accelscope.measure.predict import Prediction, predict


@pytest.fixture(scope="module")
def shipped():
    return load_rows("all") + load_rows("external")


def test_every_shipped_row_is_read_as_its_own_source(shipped):
    assert [r.id for r in shipped if harness_of(r) != source_of(r)] == []


def _one_per_group(rows):
    seen, out = set(), []
    for row in rows:
        key = (source_of(row), row.category, row.metric)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def test_a_renamed_row_maps_as_the_shipped_one(shipped):
    """One row per (source, category, metric): the same prediction under the prefix "ZZ" (the harness is read from
    the repository the row cites and the fields its benchmark's shape carries)."""
    checked = 0
    for row in _one_per_group(shipped):
        before = predict(row, "analytical")
        if not isinstance(before, Prediction):
            continue
        renamed = dataclasses.replace(row, id="ZZ-" + row.id.split("-", 1)[1])
        after = predict(renamed, "analytical")
        assert isinstance(after, Prediction), (row.id, after)
        assert after.value == before.value, row.id
        checked += 1
    assert checked >= 30  # training (LF, MT, MB, TA, CU, MM), memory footprint, norms, vidur ops, GEMMs, ...


def test_a_row_of_an_unknown_source_keeps_its_prefix():
    row = MeasuredRow(id="QQ-1", hardware="NVIDIA H100 SXM5", category="gemm", op="matmul", dtype="bf16",
                      shape={"M": 64, "N": 64, "K": 64}, metric="time", value=1.0, unit="us",
                      source="github.com/someone/else bench.md @ " + "0" * 40)
    assert harness_of(row) == "QQ"
    # the same repository as vidur's profiles but not their shape (the dev set's VD rows): read generically
    vd = dataclasses.replace(row, id="VD-1", source="github.com/microsoft/vidur data/profiling/x.csv @ " + "0" * 40)
    assert harness_of(vd) == "VD"
