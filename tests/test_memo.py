"""perf/memo.py: memoized building blocks of `train` inside a planner's scope give exactly the per-point results."""

from __future__ import annotations

from accelscope.hardware import load_hardware
from accelscope.llm.train import train
from accelscope.perf.estimate import shared_estimates
from accelscope.perf.memo import memo_scope, memo_stats, memoized, spec_key
from accelscope.workload.model_config import load_model

LAYOUTS = [  # 70B on 64 H100: layouts sharing micro-batch blocks (same tp/pp/cp/mb/recompute) and not
    dict(tp=8, pp=4, dp=2, vpp=1, zero=1, recompute="selective"),
    dict(tp=8, pp=4, dp=2, vpp=2, zero=1, recompute="selective"),
    dict(tp=8, pp=4, dp=2, vpp=2, zero=3, recompute="selective"),
    dict(tp=4, pp=4, dp=4, vpp=1, zero=1, recompute="full"),
    dict(tp=8, pp=2, dp=2, cp=2, vpp=1, zero=0, recompute="none", check_memory=False),
]


def _run(config, hw, layout):
    return train(config, hw, seq_len=4096, global_batch=64, level="analytical", **layout)


def test_memoized_train_equals_the_per_point_path():
    config, hw = load_model("llama-3.1-70b"), load_hardware("h100-sxm")
    plain = [_run(config, hw, layout) for layout in LAYOUTS]
    with shared_estimates():
        memo = [_run(config, hw, layout) for layout in LAYOUTS]
        cold = memo_stats()
        again = [_run(config, hw, layout) for layout in LAYOUTS]  # warm: every block a hit
        warm = memo_stats()
    for a, b, c in zip(plain, memo, again, strict=True):
        assert a.step_s == b.step_s == c.step_s
        assert a.tokens_per_s_per_device == b.tokens_per_s_per_device == c.tokens_per_s_per_device
        assert a.memory == b.memory == c.memory and a.breakdown == b.breakdown == c.breakdown
        assert a.detail == c.detail and a.mfu == c.mfu
    # the first pass shares blocks between layouts 1-3 (same micro-batch), the second misses nothing
    assert cold["misses"] > 0 and cold["hits"] > 0
    assert warm["misses"] == cold["misses"] and warm["entries"] == cold["entries"]


def test_spec_key_follows_content_not_identity():
    a, b = load_hardware("h100-sxm"), load_hardware("h100-sxm")
    bigger = a.with_overrides({"memory.hbm.capacity": 2 * a.main_memory.capacity})
    with memo_scope():
        assert spec_key(a) == spec_key(b)  # two loads of one preset share entries
        assert spec_key(bigger) != spec_key(a)  # an override is a different chip


def test_memoized_runs_every_time_outside_a_scope():
    calls = []

    @memoized
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3, 3]  # no scope: no cache, a patched constant or refit is always seen
    with memo_scope():
        assert square(4) == 16 and square(4) == 16
    assert calls == [3, 3, 4]


def test_a_changed_chip_is_not_served_from_the_memo():
    """Within one scope, a spec variant (HBM bandwidth doubled) gets its own estimates: the same step as outside
    any scope, and a different one from the base chip's."""
    config, hw = load_model("llama-3.1-70b"), load_hardware("h100-sxm")
    faster = hw.with_overrides({"memory.hbm.bandwidth": 2 * hw.main_memory.bandwidth})
    layout = LAYOUTS[0]
    plain = _run(config, faster, layout)
    with shared_estimates():
        base = _run(config, hw, layout)
        memo = _run(config, faster, layout)
    assert memo.step_s == plain.step_s and memo.memory == plain.memory
    assert memo.step_s < base.step_s  # more bandwidth: the memory-bound ops (norms, optimizer) run faster
