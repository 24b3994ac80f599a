"""What a vendor reads in a scenario report: the scenario's own kernels, emulated dtypes marked, only the columns
and sentences that apply, models named by their config, figures with legends and configurations."""

import json
import re

import pytest

pytest.importorskip("plotly")

from accelscope.report import write_report
from accelscope.report.figures import label_positions, png_roofline_grid
from accelscope.report.scenario import Scenario
from accelscope.workload.model_config import MODEL_DIR


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Llama-3.1-8B given as a config.json path, BF16 and NVFP4 on H100 (no FP4 hardware) and B200."""
    folder = tmp_path_factory.mktemp("ckpt") / "downloads" / "snapshot-1234"
    folder.mkdir(parents=True)
    config = json.loads((MODEL_DIR / "llama-3.1-8b.json").read_text())
    config["_name_or_path"] = "acme/Llama-8B-instruct"
    (folder / "config.json").write_text(json.dumps(config))
    scenario = Scenario(title="small", hardware=["h100-sxm", "b200"], level="roofline", validation=False,
                        serving={"model": str(folder), "tp": 1, "batch": 8, "input_len": 512, "output_len": 64,
                                 "dtypes": ["bf16", "nvfp4"]})
    out = tmp_path_factory.mktemp("report")
    path, results = write_report(scenario, out)
    return path.read_text(), results, str(folder)


def test_kernels_come_from_the_scenarios_model(small):
    _, results, _ = small
    names = {k["kernel"] for k in results.kernels}
    assert all(name.startswith("Llama-8B-instruct ") for name in names), names
    # 8B shapes: hidden 4096, 2 x 14336 MLP-up width; nothing of the 70B (hidden 8192) demo set
    assert "Llama-8B-instruct RMSNorm 4,096 x 4,096" in names
    assert not any("8192³" in n or "70b" in n for n in names)
    assert any("quantize activations to nvfp4" in n for n in names)


def test_a_dtype_without_hardware_is_marked_emulated(small):
    page, results, _ = small
    h100 = next(s for s in results.serving if s["hw"] == "h100-sxm" and s["dtype"] == "nvfp4")
    b200 = next(s for s in results.serving if s["hw"] == "b200" and s["dtype"] == "nvfp4")
    assert h100["emulated_on"] == "fp8_e4m3" and b200["emulated_on"] is None
    assert "nvfp4 is emulated on h100-sxm" in page
    assert any(k["emulated_on"] == "fp8_e4m3" for k in results.kernels if k["hw"] == "h100-sxm")


def test_only_columns_and_sentences_that_apply(small):
    page, results, _ = small
    assert "per k$" not in page  # only h100-sxm has a unit price: no per-$ column, a note says why
    assert "no unit price in the spec of b200" in page
    assert "per W</th>" in page  # both chips have a TDP
    bounds = {max(s["decode_attribution"], key=s["decode_attribution"].get) for s in results.serving
              if s["dtype"] == "bf16"}  # the breakdown sentence reads the first dtype's rows
    assert ("CUDA graphs" in page) == ("launch" in bounds)
    assert "presets as given" in page  # both chips are presets


def test_a_model_path_is_named_by_its_config(small):
    page, _, folder = small
    assert "Llama-8B-instruct" in page and "serving Llama-8B-instruct" in page
    prose = re.sub(r"<code>.*?</code>", "", page)  # the path stays where it must: the commands that reproduce
    assert "snapshot-1234" not in prose and folder in page


def test_static_roofline_has_one_legend_naming_every_kernel(small):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, results, _ = small
    fig = png_roofline_grid(plt, results)
    labels = [t.get_text() for legend in [*fig.legends, *(a.get_legend() for a in fig.axes)] if legend
              for t in legend.get_texts()]
    assert {k["kernel"] for k in results.kernels} <= set(labels)
    assert any(label.startswith("SFU roof") for label in labels)
    assert "Llama-8B-instruct" in fig._suptitle.get_text()
    plt.close(fig)


def test_crowded_labels_alternate_sides():
    # mxfp8 and fp8_e4m3 sit close together (log x): their labels go to opposite sides; bf16 far away stays on top
    positions = label_positions([0.23, 3.8, 4.1, 7.7], [4000, 5010, 5210, 5070])
    assert positions[0] == "top center"
    assert positions[1] != positions[2] and positions[1].split()[0] != positions[2].split()[0]


def test_training_kernels_are_forward_passes_of_its_model():
    from accelscope.report.demo import scenario_kernels

    scenario = Scenario(hardware=["h100-sxm"], training={"model": "qwen3-30b-a3b", "tp": 4, "dp": 8,
                                                         "seq_len": 4096, "global_batch": 256})
    kernels = scenario_kernels(scenario)
    # every layer of qwen3-30b-a3b is MoE: the shared weight GEMM is QKV ((32/4 + 2 x 4/4) heads x 128), no decode
    assert list(kernels) == ["qwen3-30b-a3b QKV GEMM, forward 4,096 tokens bf16",
                             "qwen3-30b-a3b attention forward 4,096 causal", "qwen3-30b-a3b RMSNorm 4,096 x 2,048",
                             "qwen3-30b-a3b MoE experts 128 x 768"]
    qkv = kernels["qwen3-30b-a3b QKV GEMM, forward 4,096 tokens bf16"]
    assert (qkv.m, qkv.n, qkv.k) == (4096, (8 + 2) * 128, 2048)
