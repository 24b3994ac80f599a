"""llm/plan_grid.py: the (capacity x layout) grid equals the per-point path, `train` on a chip of that capacity."""

from __future__ import annotations

import numpy as np
import pytest

from accelscope.hardware import load_hardware
from accelscope.llm import DoesNotFit
from accelscope.llm.infer import infer
from accelscope.llm.plan import plan
from accelscope.llm.plan_grid import serve_grid, train_grid
from accelscope.llm.train import train

GB = 1e9
# Llama-3.1-70B on 64 H100 at 4k context, a narrowed space (32 layouts) at three HBM capacities
SPACE = dict(seq_len=4096, global_batch=64, tp=(4, 8), pp=(2, 4), cp=1, ep=1, vpp=(1, 2), zero=(1, 3),
             micro_batch=1, recompute=("selective", "full"))
CAPACITIES = [40 * GB, 80 * GB, 141 * GB]


@pytest.fixture(scope="module")
def grid():
    return train_grid("llama-3.1-70b", "h100-sxm", 64, capacities=CAPACITIES, level="analytical", **SPACE)


def test_grid_equals_train_at_every_point(grid):
    """Each priced layout at each capacity: the same step, tokens/s, MFU and memory as `train` on a chip with that
    capacity (relative 1e-9), and it fits exactly when `train` does not raise DoesNotFit."""
    base = load_hardware("h100-sxm")
    assert grid.candidates == 2 * 2 * 2 * 2 * 2  # tp x pp x vpp x zero x recompute
    assert len(grid.layouts) == 32 and grid.fits.shape == (32, 3)  # none pruned at 141 GB
    for c, capacity in enumerate(CAPACITIES):
        chip = base.with_overrides({"memory.hbm.capacity": capacity})
        for i, layout in enumerate(grid.layouts):
            kwargs = dict(seq_len=4096, global_batch=64, level="analytical", **layout)
            if not grid.fits[i, c]:
                with pytest.raises(DoesNotFit):
                    train("llama-3.1-70b", chip, **kwargs)
                continue
            result = train("llama-3.1-70b", chip, **kwargs)
            assert grid.metrics["step_s"][i] == pytest.approx(result.step_s, rel=1e-9)
            assert grid.metrics["tokens_per_s_per_device"][i] == pytest.approx(result.tokens_per_s_per_device,
                                                                               rel=1e-9)
            assert grid.metrics["mfu"][i] == pytest.approx(result.mfu, rel=1e-9)
            assert grid.metrics["memory_per_device_bytes"][i] == pytest.approx(result.memory.total, rel=1e-9)
    # the same totals against a larger bound: more layouts fit as the capacity grows (15, 30 and 32 of the 32
    # today; at 80 GB all but TP4 x PP2 x ZeRO-1 with selective recompute, 90-95 GB)
    fitting = grid.fits.sum(axis=0)
    assert 0 < fitting[0] < fitting[1] <= fitting[2]


def test_grid_best_is_the_plan_at_that_capacity(grid):
    chip = load_hardware("h100-sxm").with_overrides({"memory.hbm.capacity": 80 * GB})
    best = grid.layouts[grid.best()[1]]
    planned = plan("llama-3.1-70b", chip, devices=64, level="analytical", **SPACE)
    assert planned.best.layout == best
    assert planned.best.metrics["step_s"] == pytest.approx(grid.metrics["step_s"][grid.best()[1]], rel=1e-9)


def test_two_workers_give_the_same_grid(grid):
    again = train_grid("llama-3.1-70b", "h100-sxm", 64, capacities=CAPACITIES, level="analytical", workers=2,
                       **SPACE)
    order = [again.layouts.index(layout) for layout in grid.layouts]  # workers deal the splits in another order
    for name, values in grid.metrics.items():
        assert np.array_equal(values, again.metrics[name][order])
    assert np.array_equal(grid.fits, again.fits[order])
    assert len(again.worker_cpu_seconds) == 2 and grid.worker_cpu_seconds == ()  # TP 4 and 8: one worker each


def test_two_serving_workers_give_the_same_grid():
    """Dealt by TP (four TPs for two workers: every op of a TP in one worker), the same floats as one worker."""
    kwargs = dict(batches=(8, 64), tp=(1, 2, 4, 8), pp=(1, 2), dtypes=("bf16", "fp8_e4m3"), level="analytical")
    one = serve_grid("llama-3.1-70b", "h100-sxm", 8, **kwargs)
    two = serve_grid("llama-3.1-70b", "h100-sxm", 8, workers=2, **kwargs)
    order = [two.layouts.index(layout) for layout in one.layouts]
    for name, values in one.metrics.items():
        assert np.array_equal(values, two.metrics[name][order])
    assert len(two.worker_cpu_seconds) == 2


@pytest.mark.parametrize("bad", [[], [-1.0], [float("nan")]])
def test_bad_capacities_are_named(bad):
    with pytest.raises(ValueError, match="capacities: expected positive byte counts"):
        train_grid("llama-3.1-70b", "h100-sxm", 64, capacities=bad, **SPACE)


def test_serve_grid_equals_infer_at_every_point():
    """70B serving on 8 H100 (TP 2/4/8 x bf16/fp8 weights, batches 16-256) at 80 and 141 GB: TTFT, TPOT, tokens/s
    per device and memory identical to `infer` on a chip of that capacity, fitting exactly when infer does not
    raise."""
    capacities = [80 * GB, 141 * GB]
    grid = serve_grid("llama-3.1-70b", "h100-sxm", 8, capacities=capacities, batches=(16, 64, 256), tp=(1, 2, 4, 8),
                      pp=1, dtypes=("bf16", "fp8_e4m3"), level="analytical")
    # TP1 in bf16 holds 2 B x 70.6e9 = 141 GB of weights: above 141 GB, pruned before any estimate
    assert grid.pruned == {"memory (weights alone)": 3}
    assert len(grid.layouts) == (4 * 2 - 1) * 3
    base = load_hardware("h100-sxm")
    for c, capacity in enumerate(capacities):
        chip = base.with_overrides({"memory.hbm.capacity": capacity})
        for i, layout in enumerate(grid.layouts):
            kwargs = dict(tp=layout["tp"], pp=layout["pp"], batch=layout["batch"], dtype=layout["dtype"],
                          level="analytical")
            if not grid.fits[i, c]:
                with pytest.raises(DoesNotFit):
                    infer("llama-3.1-70b", chip, **kwargs)
                continue
            result = infer("llama-3.1-70b", chip, **kwargs)
            # the same floats (serve_metrics sums the same op estimates in the same order as infer's estimates)
            assert grid.metrics["tpot_s"][i] == result.tpot_s
            assert grid.metrics["ttft_s"][i] == result.ttft_s
            assert grid.metrics["output_tokens_per_s_per_device"][i] == result.output_tokens_per_s_per_device
            assert grid.metrics["memory_per_device_bytes"][i] == result.memory.total
    assert grid.fits[:, 0].sum() < grid.fits[:, 1].sum()  # the bigger chip fits the bigger batches


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(batches=()), "batches: expected positive batch sizes"),
    (dict(batches=(0, 8)), "batches: expected positive batch sizes"),
    (dict(batches="16"), "batches: expected positive batch sizes"),  # not (1, 6)
    (dict(batches=(16.5,)), "batches: expected positive batch sizes"),  # int() would price batch 16
    (dict(dtypes="bf16"), r"dtypes: expected a tuple of dtypes, e.g. \(.bf16.,\)"),
    (dict(workers=0), "workers: expected an integer >= 1"),
    (dict(tp=0), r"tp: expected whole numbers >= 1 \(got \(0,\)\)"),  # was a ZeroDivisionError
    (dict(pp=(1, "2")), "pp: expected whole numbers >= 1"),  # was a TypeError deep in the search
])
def test_bad_serving_grid_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        serve_grid("llama-3.1-70b", "h100-sxm", 8, **kwargs)


def test_grids_need_at_least_one_device():
    with pytest.raises(ValueError, match=r"devices: expected an integer >= 1 \(got 0\)"):
        serve_grid("llama-3.1-70b", "h100-sxm", 0)
    with pytest.raises(ValueError, match=r"devices: expected an integer >= 1 \(got 0\)"):  # was a ZeroDivisionError
        train_grid("llama-3.1-70b", "h100-sxm", 0, **SPACE)


@pytest.mark.parametrize("goal", ["train", "serve"])
def test_bad_parallel_degrees_are_named(goal):
    """plan() and train_grid() share plan's choices: a tp of 0 was a ZeroDivisionError, a text one a TypeError."""
    with pytest.raises(ValueError, match=r"tp: expected whole numbers >= 1 \(got \(0,\)\)"):
        plan("llama-3.1-8b", "h100-sxm", 8, goal=goal, level="roofline", tp=0)
    with pytest.raises(ValueError, match="micro_batch: expected whole numbers >= 1"):
        train_grid("llama-3.1-8b", "h100-sxm", 8, level="roofline", micro_batch=(1, True))


def test_a_bad_level_is_named_not_every_layout_refused():
    """train's ValueErrors become refused layouts in the search: level="analytic" refused all 18 TP8 layouts
    (train_grid returned an empty grid, plan a DoesNotFit); now the level is named."""
    with pytest.raises(ValueError, match=r"level: expected one of roofline, analytical, sim \(got 'analytic'\)"):
        train_grid("llama-3.1-8b", "h100-sxm", 8, level="analytic", tp=8, pp=1)
    with pytest.raises(ValueError, match=r"level: expected one of .*\(got 'analytic'\)"):
        plan("llama-3.1-8b", "h100-sxm", 8, level="analytic", tp=8, pp=1)


@pytest.mark.parametrize(("model", "hw", "tp", "pp", "dtype"), [
    ("llama-3.1-70b", "h100-sxm", 1, 8, "bf16"),  # six identical middle stages, summed once
    ("llama-3.1-70b", "h100-sxm", 2, 4, "fp8_e4m3"),
    ("deepseek-v3", "h200-sxm", 8, 2, "fp8_e4m3"),  # dense first layers then MoE: two layer kinds in stage 0
    ("gpt-oss-120b", "b200", 4, 3, "bf16"),  # sliding-window and full layers, MoE; 36 layers over 3 stages
    ("llama-3.1-8b", "b200", 1, 1, "bf16"),
])
@pytest.mark.parametrize("level", ["roofline", "analytical"])
def test_serve_metrics_are_infer_s_floats(model, hw, tp, pp, dtype, level):
    """The grid's path (no graphs, no estimates built) returns infer's TTFT, TPOT, tokens/s per device and memory
    exactly, with and without a memo scope, on pipelines with middle stages and models with several layer kinds."""
    from accelscope.llm.infer import serve_metrics
    from accelscope.perf.estimate import shared_estimates
    from accelscope.workload.model_config import load_model

    config, spec = load_model(model), load_hardware(hw)
    for batch in (1, 24):
        result = infer(config, spec, tp=tp, pp=pp, batch=batch, dtype=dtype, level=level, check_memory=False)
        want = (result.ttft_s, result.tpot_s, result.output_tokens_per_s_per_device, result.memory.total)
        assert serve_metrics(config, spec, tp, pp, batch, dtype, "bf16", 2048, 256, level) == want
        with shared_estimates():
            assert serve_metrics(config, spec, tp, pp, batch, dtype, "bf16", 2048, 256, level) == want
            assert serve_metrics(config, spec, tp, pp, batch, dtype, "bf16", 2048, 256, level) == want  # warm


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(dtype="bf17"), r"dtype: unknown dtype 'bf17'"),
    (dict(seq_len=0), r"seq_len: expected an integer >= 1 \(got 0\)"),
    (dict(global_batch=0), r"global_batch: expected an integer >= 1 \(got 0\)"),
    (dict(recompute="some"), r"recompute: expected one of none, selective, full, op_sac \(got 'some'\)"),
])
def test_bad_training_workload_is_named_not_every_layout_refused(kwargs, message):
    """Each of these refused all 18 TP8 layouts one by one ('refused: ...'), an empty grid with no error."""
    with pytest.raises(ValueError, match=message):
        train_grid("llama-3.1-8b", "h100-sxm", 8, level="roofline", tp=8, pp=1, **kwargs)
