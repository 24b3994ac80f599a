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
                  "How far to trust these numbers", "Serving under load"):
        assert title in page
    assert page.count("class='conclusion'") == 9
    assert page.count("Reproduce:") == 9


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
    assert re.search(r"llama-3.1-70b decode is HBM-bound: \+1 % memory\.hbm\.bandwidth gives \+0\.\d\d % tokens/s", page)


def test_results_render_in_notebooks(report):
    _, _, results = report
    assert results._repr_html_().startswith("<table>")


def test_report_for_a_user_scenario_with_a_spec_file(tmp_path):
    import yaml

    from accelscope.cli.app import main
    from accelscope.hardware.loader import PRESET_DIR

    chip = yaml.safe_load((PRESET_DIR / "h100-sxm.yaml").read_text())
    chip.update(id="my-chip", name="My chip (H100 with 2x HBM)")
    chip["memory"]["hbm"]["bandwidth"] = "6.7 TB/s"
    (tmp_path / "my-chip.yaml").write_text(yaml.safe_dump(chip))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "title": "Doubling HBM", "hardware": ["h100-sxm", str(tmp_path / "my-chip.yaml")],
        "serving": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64, "dtypes": ["bf16"]},
        "kernels": False, "validation": False}))
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")])
    assert done.value.code == 0
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Doubling HBM" in page and "My chip (H100 with 2x HBM)" in page
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    tpot = {s["hw"]: s["tpot_s"] for s in data["serving"]}
    assert tpot["my-chip"] < tpot["h100-sxm"]  # twice the bandwidth: faster decode


def test_bad_scenario_names_the_file_and_field(tmp_path):
    from accelscope.report import load_scenario

    bad = tmp_path / "bad.yaml"
    bad.write_text("hardware: [h100-sxm]\nserving: {model: llama-3.1-8b, batch: 0}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: serving\.batch"):
        load_scenario(bad)
    bad.write_text("hardwares: [h100-sxm]\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: hardware"):
        load_scenario(bad)


def test_a_load_rate_of_zero_is_named(tmp_path):
    """serving.load.fractions: each rate is a fraction of the reference chip's saturated rate, so 0 (no
    arrivals) or a negative one is refused at load time, naming the list entry."""
    from accelscope.report import load_scenario

    bad = tmp_path / "bad.yaml"
    bad.write_text("hardware: [h100-sxm]\nserving: {model: llama-3.1-8b, load: {fractions: [0.5, 0]}}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: serving\.load\.fractions\.1"):
        load_scenario(bad)


def test_load_conclusion_names_the_best_chip_or_says_none_meets_the_slos():
    from types import SimpleNamespace

    from accelscope.report.html import _load_conclusion

    scenario = {"serving": {"load": {"slo_ttft_ms": 500, "slo_tpot_ms": 50}}}
    rows = [{"hw": "a", "rate": 2.0, "meets": True}, {"hw": "a", "rate": 4.0, "meets": False},
            {"hw": "b", "rate": 3.0, "meets": True}]
    text = _load_conclusion(SimpleNamespace(scenario=scenario, load=rows))
    assert "a 2.00, b 3.00" in text and "b serves the most" in text
    none = [{**row, "meets": False} for row in rows]
    text = _load_conclusion(SimpleNamespace(scenario=scenario, load=none))
    assert text.startswith("No chip meets P99 TTFT ≤ 500 ms and P99 TPOT ≤ 50 ms") and "serves the most" not in text


def test_a_chip_that_cannot_run_a_section_keeps_the_rest_of_the_report(tmp_path):
    """systolic-128 has no network (scale-up domain 1, no scale-out): neither training over 8 devices nor serving
    at TP2 (statically or under load) can run there. The report still runs every other chip and section, shows "—"
    where the chip has no number and says why in a note (it stopped at the first such chip with a bare error); with
    no chip running anything it still says why."""
    import yaml

    from accelscope.cli.app import main

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "title": "With a chip that cannot", "hardware": ["h100-sxm", "systolic-128"],
        "serving": {"model": "llama-3.1-8b", "tp": 2, "batch": 64, "input_len": 4096, "output_len": 512,
                    "dtypes": ["bf16"],
                    "load": {"requests": 10, "fractions": [0.5, 1.0], "max_seqs": 64}},
        "training": {"model": "llama-3.1-8b", "dp": 8, "seq_len": 2048, "global_batch": 16},
        "kernels": False, "validation": False}))
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")])
    assert done.value.code == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s["hw"] for s in data["serving"]] == ["h100-sxm"] and [t["hw"] for t in data["training"]] == ["h100-sxm"]
    failed = {(f["section"], f["hw"]) for f in data["failures"]}
    # (the format trade-off runs on the last chip listed unless tradeoff_hw says otherwise)
    assert failed == {("serving", "systolic-128"), ("training", "systolic-128"), ("serving under load", "systolic-128"),
                      ("number formats", "systolic-128")}
    assert {row["hw"] for row in data["load"]} == {"h100-sxm"}
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Not run: training on systolic-128: a collective over 8 devices needs interconnect.scale_out" in page
    assert "Not run: serving bf16 on systolic-128" in page
    # no chip runs anything: the report still says why
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "title": "Nothing runs", "hardware": ["systolic-128"], "kernels": False, "validation": False,
        "training": {"model": "llama-3.1-8b", "dp": 8, "seq_len": 2048, "global_batch": 16}}))
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "none")])
    assert done.value.code == 0
    assert "Not run: training on systolic-128" in (tmp_path / "none" / "index.html").read_text()
