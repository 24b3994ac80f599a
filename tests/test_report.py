"""The demo report: a self-contained page with every section, its charts and the key numbers."""

import json
import re

import pytest

pytest.importorskip("plotly")

from accelscope.report import write_demo_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path, results = write_demo_report(out)
    return out, path.read_text(), results


def test_report_is_self_contained_with_every_section(report):
    _, page, _ = report
    assert "<script src=" not in page  # plotly's JavaScript is inlined: the file works offline
    assert "Plotly" in page
    for title in ("Hardware comparison", "What limits decode", "Time breakdown by resource", "Training at scale",
                  "Rooflines with the critical kernels", "Decode by op type", "Accuracy vs speed per number format",
                  "How far to trust these numbers"):
        assert title in page
    assert page.count("class='conclusion'") == 8
    assert page.count("Reproduce:") == 8


def test_key_numbers_appear(report):
    out, page, results = report
    h100 = next(s for s in results.serving if s["hw"] == "h100-sxm" and s["dtype"] == "bf16")
    assert f"{h100['tokens_per_s']:,.0f}" in page  # the comparison table shows the computed throughput
    assert "+1 %" in page and "SFU roof" in page
    data = json.loads((out / "results.json").read_text())
    assert {c["id"] for c in data["chips"]} >= {"h100-sxm", "h200-sxm", "b200", "mi300x", "generic-next-gen"}


def test_static_figures_for_slides(report):
    out, _, _ = report
    for name in ("roofline", "tornado", "decode_breakdown"):
        for suffix in (".png", ".svg"):
            assert (out / "figures" / f"{name}{suffix}").stat().st_size > 5000


def test_decode_elasticity_is_dominated_by_memory_or_launch(report):
    _, page, results = report
    # batch-64 decode on H100: HBM bandwidth is the largest positive lever, launch latency a negative one
    positive = max(results.elasticity, key=lambda k: results.elasticity[k])
    assert positive == "memory.hbm.bandwidth"
    assert results.elasticity["runtime.launch_latency"] < 0
    assert re.search(r"70B decode is HBM-bound: \+1 % memory\.hbm\.bandwidth gives \+0\.\d\d % tokens/s", page)


def test_results_render_in_notebooks(report):
    _, _, results = report
    assert results._repr_html_().startswith("<table>")
