"""The cycle-level level: hand-derived cycle counts, ISA toggles, traces, buffering, contention, CLI."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

import accelscope as acs
from accelscope.cli.app import app
from accelscope.hardware import SpecError
from accelscope.perf.sim import Program, chrome_trace, core_model, mma_cycles, run, simulate
from accelscope.perf.sim.compiler import Step, compile_op, schedule
from accelscope.perf.sim.isa import Load, Special, VecOp, describe
from accelscope.workload import Attention, Collective, Elementwise, Gemm, Norm, Quantize, Softmax

runner = CliRunner()


@pytest.fixture(scope="module")
def systolic():
    return acs.load_hardware("systolic-128")


@pytest.fixture(scope="module")
def h100():
    return acs.load_hardware("h100-sxm")


def test_systolic_fold_matches_scale_sim(systolic):
    core = core_model(systolic)
    # SCALE-Sim: one fold = 2*Sr + Sc + T - 2 = 2*128 + 128 + 1024 - 2 = 1406 cycles (weight stationary, T = rows
    # of A streamed); a 128x128 B block is one fold.
    assert mma_cycles(core, 1024, 128, 128, "bf16") == pytest.approx(1406)
    # 1024^3 on one 128x128 array = 64 folds = 89,984 cycles, SCALE-Sim's count for this layer
    assert 8 * 8 * mma_cycles(core, 1024, 128, 128, "bf16") == pytest.approx(89_984)


def test_systolic_gemm_1024_cube(systolic):
    est = acs.estimate(Gemm(1024, 1024, 1024), systolic, level="sim")
    cycles = est.details["cycles"]
    # 4 cores x 16 folds each: 22,496 fold cycles; plus the first loads (HBM latency) and the last store
    assert 22_496 < cycles < 22_496 * 1.25
    assert est.bound == "matrix" and est.level == "sim"
    assert est.seconds >= acs.estimate(Gemm(1024, 1024, 1024), systolic).seconds


def test_one_core_gives_the_scale_sim_layer(systolic):
    one = systolic.with_overrides({"compute.cores": 1, "matrix.peak.bf16": "32.768 TFLOP/s"})
    cycles = acs.estimate(Gemm(1024, 1024, 1024), one, level="sim").details["cycles"]
    assert 89_984 <= cycles < 89_984 * 1.06


def test_sim_agrees_with_analytical_on_large_gemms(h100):
    for shape in ((4096, 4096, 4096), (8192, 8192, 8192)):
        sim = acs.estimate(Gemm(*shape), h100, level="sim").seconds
        analytical = acs.estimate(Gemm(*shape), h100, level="analytical").seconds
        assert abs(sim / analytical - 1) < 0.15, shape


def test_exp2_off_slows_softmax_and_the_trace_shows_why(systolic):
    # FP8 in and out (1 B/element, native converts): on-chip work, not HBM, sets the time
    op = Softmax(rows=4096, cols=4096, dtype="fp8_e4m3")
    spec = systolic.with_overrides({"isa.fp8_convert": True})
    native = simulate(op, spec, trace=True)
    emulated = simulate(op, spec.with_overrides({"isa.exp2": False}), trace=True)
    assert emulated.estimate.seconds > 1.5 * native.estimate.seconds
    assert emulated.estimate.bound == "vector"
    assert "sfu" in native.estimate.details["utilization"]
    assert native.estimate.details["utilization"].get("vector", 0) < emulated.estimate.details["utilization"]["vector"]
    names = {e["name"] for e in chrome_trace(emulated)["traceEvents"] if e.get("tid") is not None}
    assert any("polynomial on the FMA pipe" in n for n in names)
    sfu_events = [e for e in chrome_trace(native)["traceEvents"] if e.get("cat") == "sfu"]
    assert sfu_events and all(e["ph"] == "X" for e in sfu_events)


def test_trace_json_structure(h100, tmp_path):
    result = simulate(Gemm(2048, 2048, 2048), h100, trace=True)
    trace = chrome_trace(result)
    events = trace["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert complete and all({"name", "ts", "dur", "pid", "tid"} <= set(e) for e in complete)
    assert {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"} >= {"matrix", "dma0"}
    assert max(e["ts"] + e["dur"] for e in complete) <= result.estimate.seconds * 1e6 * 1.001
    json.dumps(trace)


def _stream_program(bytes_per_tile: float, ops: float, tiles: int, stages: int, core) -> Program:
    steps = [Step((Load((), (f"x{i % stages}",), f"load {i}", bytes_per_tile, bytes_per_tile, 1),),
                  (VecOp((f"x{i % stages}",), (f"y{i % stages}",), f"work {i}", "fma", 1024, ops),))
             for i in range(tiles)]
    return Program("stream", tuple(schedule(steps, stages - 1)))


def test_multi_buffering_beats_single_buffering(h100):
    core = core_model(h100)
    single = run(_stream_program(64 * 1024, 64, 16, 1, core), core).cycles
    double = run(_stream_program(64 * 1024, 64, 16, 2, core), core).cycles
    assert double < 0.8 * single


def test_dma_bound_and_compute_bound_cases(h100):
    core = core_model(h100)
    dma_bound = run(_stream_program(256 * 1024, 1, 8, 2, core), core)
    compute_bound = run(_stream_program(1024, 512, 8, 2, core), core)
    assert max(dma_bound.busy, key=dma_bound.busy.get) in ("dma", "hbm")
    assert "wait:dma" in dma_bound.stalls["vector"]
    assert max(compute_bound.busy, key=compute_bound.busy.get) == "vector"


def test_dependencies_and_latency_are_respected(h100):
    core = core_model(h100)
    program = Program("chain", (
        VecOp((), ("a",), "v", "fma", 1024, 1),
        Special(("a",), ("b",), "e", "exp2", 1024),
        VecOp(("b",), ("c",), "w", "fma", 1024, 1),
    ))
    result = run(program, core, trace=True)
    v, e, w = result.events
    assert e.start == pytest.approx(v.start + v.cycles + core.vector_latency)  # across units: full latency
    assert w.start == pytest.approx(e.start + e.cycles + core.sfu_latency)
    assert e.reason == "wait:vector" and w.reason == "wait:sfu"


def test_few_row_grid_and_position_gather_in_the_sim(h100):
    """vLLM's rotary kernel on one token (kernel="rope", 512 pairs): the grid is one 512-thread block, so its one
    SM has 512 x 2 fp16 loads = 2048 B in flight, not 2048 resident threads' worth; the 2048 B tile is one
    round trip (600 ns), the load's whole latency (its rounds end it). The positions -> cos/sin gather puts one
    more DRAM latency (600 ns, dma_latency 0 on h100) in front of it: exactly the difference from the same
    grid without the gather (kernel="scalar", min(1024, 512) threads)."""
    rope = Elementwise("rope", 512, "fp16", inputs=2, outputs=2, flops_per_element=6, kernel="rope", rows=1)
    plain = Elementwise("rope", 512, "fp16", inputs=2, outputs=2, flops_per_element=6, kernel="scalar", rows=1)
    est = acs.estimate(rope, h100, level="sim")
    assert est.details["programs"][0]["thread_loads_in_flight_bytes_per_core"] == 512 * 2 * 2
    gap = est.seconds - acs.estimate(plain, h100, level="sim").seconds
    assert gap == pytest.approx(600e-9, rel=1e-6)
    # and the sim stays within a store's L2 latency of the analytical level's 1.2 us bound + 260 ns write tail
    analytical = acs.estimate(rope, h100, level="analytical").seconds
    assert abs(est.seconds - analytical) < 260e-9


def test_row_blocks_spread_over_the_cores_in_the_sim(h100):
    """vLLM's SiluAndMul on 16 tokens at TP8 (16 x 1376 outputs, one 1024-thread block per token): the 16 blocks
    land on 16 SMs, one each, not packed into one 32768-element tile on one SM; a block's 1024 threads walk its
    1376 outputs in ceil(1376 / 1024) = 2 whole rounds of loads (the second with 352 threads), so an SM's tile of
    1376 x 2 inputs x 2 B = 5504 B arrives in 2 round trips: 2752 B in flight per round, and the sim stays within
    10 % of the analytical level (2 rounds of 600 ns + the write tail)."""
    op = Elementwise("swiglu", 16 * 1376, "fp16", kernel="scalar", rows=16)
    program = acs.estimate(op, h100, level="sim").details["programs"][0]
    assert (program["cores"], program["tiles"], program["tile"]) == (16, 16, "1 rows x 1376 cols")
    assert program["thread_loads_in_flight_bytes_per_core"] == 1376 * 2 * 2 / 2
    sim, analytical = (acs.estimate(op, h100, level=level).seconds for level in ("sim", "analytical"))
    assert sim == pytest.approx(analytical, rel=0.1)


def test_row_kernel_rounds_overlap_compute_with_the_next_rounds_loads(h100):
    """vLLM's SiluAndMul on 8 tokens of Llama-2-70B at TP8 (d = 3696, one 1024-thread block per token): a block
    walks its row in ceil(3696 / 1024) = 4 rounds, each one DRAM round trip. The sim runs each round as a step
    (its 924 outputs' loads, SFU/FMA work and store), the next round's loads waiting only for this round's data,
    so only the last round's compute and store are exposed behind 4 round trips. By hand on H100 (1.83 GHz):
    round = 1098 cycles (600 ns DRAM: the warps' issue skew, 3696 B / 128 B per cycle = 28.9 cycles, hides under
    it, each warp waiting on its own load: core._load); then exp2 + rcp 2 x 924 / 16 per cycle
    + 18 SFU latency, the SwiGLU's 4 ops x 924 / 138.5 lanes + the convert's 462 slots / 138.5 + 4 FMA latency,
    the store's 1848 B x 8 cores / 3634 B per cycle of L2 + 475.8 (260 ns) L2 latency: 5039.4 cycles (5154.9 when
    each round also paid the skew), where one tile of 4 serial rounds then all its compute took 5488."""
    op = Elementwise("swiglu", 8 * 3696, "fp16", kernel="scalar", rows=8)
    core = core_model(h100)
    [program] = compile_op(op, core, h100)
    loads = [i for i in program.instrs if isinstance(i, Load)]
    assert [i.label for i in loads] == [f"load tile 0 round {r}" for r in (1, 2, 3, 4)]
    e = 924.0
    round_trip = core.hbm_latency
    last = (e / core.sfu_rate["exp2"] + e / core.sfu_rate["rcp"] + core.sfu_latency
            + e * 4 / core.lanes + e / core.convert_per_op / core.lanes + core.vector_latency
            + e * 2 * 8 / core.l2_bytes_per_cycle + core.l2_latency)
    assert run(program, core).cycles == pytest.approx(4 * round_trip + last, rel=1e-9)
    assert 4 * round_trip + last == pytest.approx(5039.4, abs=0.1)


def test_rms_norm_rounds_run_pass_by_pass_in_one_wave(h100):
    """vLLM's RMSNorm on 64 tokens of 8192 (fp16, one 1024-thread block per token, one wave): each pass is
    8192 / 1024 = 8 rounds. Pass 1's rounds come from DRAM, each round's sum of squares under the next round's
    loads; the block's rsqrt; pass 2's rounds re-read the row from L2 (the weight from L1), each normalized and
    stored under the next. By hand on H100: a pass-1 round is 1098 cycles (600 ns), a pass-2 round 475.8 (260 ns):
    the warps' issue skew (2048 B / 128 B per cycle = 16 cycles) hides under each round trip; between them the last round's sum of squares
    (1024 / 138.5 lanes + 4 latency) and the rsqrt (1 / 16 + 18); after them the last round's FMA (2 x 1024 /
    138.5), convert (512 / 138.5), 4 latency and the threads' store (2048 B x 64 cores / 3634 B per cycle of L2
    + 475.8; each store issued behind the next round's loads): 13,154 cycles (13,410 with the skew per round;
    analytical 8 x 1098 + 8 x 475.8 + 475.8 tail = 13,066). The weight is no longer a DMA load in
    front of the row (603 cycles before)."""
    core = core_model(h100)
    op = Norm(rows=64, hidden=8192, norm="rms", dtype="fp16", kernel="scalar")
    [program] = compile_op(op, core, h100)
    labels = [i.label for i in program.instrs if isinstance(i, Load)]
    assert labels[:2] == ["load tile 0 round 1", "load tile 0 round 2"] and len(labels) == 16
    assert labels[8] == "re-read tile 0 round 1 (pass 2, L2)" and "load weights" not in labels
    expected = _two_pass_norm_cycles(core, elements=1024.0, rows=1, store_bytes=2048 * 64)
    assert run(program, core).cycles == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(13154, abs=1)


def test_co_resident_row_blocks_run_their_rounds_together(h100):
    """vLLM's RMSNorm on 256 tokens of 8192 (fp16, 1024-thread blocks): H100 holds 2048 / 1024 = 2 blocks per SM,
    so 132 x 2 = 264 rows fit one wave and 256 rows land 2 per core on 128 cores. The two blocks run concurrently:
    round r of both is one round trip. The sim's tile is those 2 rows (registers, not SRAM, hold a thread kernel's
    data; 228 KiB / (6 stages x 4 B) had capped it at one 8192-element row, so the two rows ran one after the
    other, each with its own reduction and final store: 7.54 us). By hand (1.83 GHz): 8 DRAM round trips of
    1098 cycles (600 ns), the last round's sum of squares over 2 x 1024 elements (2048 / 138.5 lanes + 4) and the
    two rows' rsqrt (2 / 16 + 18), 8 L2 round trips of 475.8 (260 ns), then the last round's FMA (2 x 2048 /
    138.5), convert (1024 / 138.5), 4 latency and the store of 4096 B x 128 cores over 3634 B per cycle of L2
    + 475.8: 13,288 cycles = 7.26 us (analytical: 8 x 0.6 + 8 x 0.26 + 0.26 tail = 7.14 us)."""
    core = core_model(h100)
    op = Norm(rows=256, hidden=8192, norm="rms", dtype="fp16", kernel="scalar")
    [program] = compile_op(op, core, h100)
    assert (program.cores, program.notes["tile"], program.notes["rounds_per_pass"]) == (128, "2 rows x 8192 cols", 8)
    expected = _two_pass_norm_cycles(core, elements=2048.0, rows=2, store_bytes=4096 * 128)
    assert run(program, core).cycles == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(13288, abs=1)


def _two_pass_norm_cycles(core, elements: float, rows: int, store_bytes: float) -> float:
    """A two-pass row norm of 8 rounds a pass, by hand: 8 DRAM round trips, the last round's sum of squares over
    `elements` and `rows` rsqrts, 8 L2 round trips, then the last round's FMA, convert, latency and the store of
    `store_bytes` over the L2's bytes per cycle plus its latency."""
    between = elements / core.lanes + core.vector_latency + rows / core.sfu_rate["rsqrt"] + core.sfu_latency
    last = (2 * elements / core.lanes + elements / core.convert_per_op / core.lanes + core.vector_latency
            + store_bytes / core.l2_bytes_per_cycle + core.l2_latency)
    return 8 * core.hbm_latency + between + 8 * core.l2_latency + last


def test_rms_norm_waves_run_round_by_round_or_in_tiles_whichever_is_faster(h100):
    """vLLM's RMSNorm on 512 tokens of 4096 (fp16, 1024-thread blocks, 2 a core): 264 rows a wave, 2 waves. Each
    core's tile is its 2 co-resident rows, and a pass over a row is 4096 / 1024 threads = 4 rounds: 2 waves x 4
    = 8 round trips a pass, over the core's 2 tiles = 4 steps each. By hand (1.83 GHz): two tiles of 4 x 1098
    (600 ns) DRAM round trips, the last round's sum of squares (2048 / 138.5 lanes + 4) and 2 rows' rsqrt
    (2 / 16 + 18), 4 x 475.8 (260 ns) L2 round trips; then the second tile's (124 cores) last FMA (2 x 2048 /
    138.5), convert (1024 / 138.5), 4 latency and store (4096 B x 124 / 3634 + 475.8): 13,320.8 cycles = 7.28 us.
    One step per SRAM-sized tile takes 7.53 us (analytical 2 x 4 x (0.6 + 0.26) + 0.26 = 7.14 us): the sim keeps
    the rounds in step. ATen's RMSNorm at 8192 x 4096 bf16 on gb200 (16 rows of 128-thread blocks a core) in
    step moves 32 KiB x 148 = 4.85 MB through L2 each pass-2 round, 714 cycles against its 309-cycle (150 ns)
    latency: 36.3 us, where the SRAM tiles take 31.1 us, so the sim keeps those (compiler.norm_alternatives)."""
    core = core_model(h100)
    op = Norm(rows=512, hidden=4096, norm="rms", dtype="fp16", kernel="scalar")
    from accelscope.perf.sim.compiler import thread_loads

    loads = thread_loads(op, h100)
    assert (loads.waves, loads.resident_rows, loads.rounds) == (2, 2, 8)
    [program] = compile_op(op, core, h100)
    assert (program.notes["tile"], program.notes["rounds_per_pass"]) == ("2 rows x 4096 cols", 4)
    e = 2048.0
    between = e / core.lanes + core.vector_latency + 2 / core.sfu_rate["rsqrt"] + core.sfu_latency
    tile = 4 * core.hbm_latency + between + 4 * core.l2_latency
    last = (2 * e / core.lanes + e / core.convert_per_op / core.lanes + core.vector_latency
            + 4096 * 124 / core.l2_bytes_per_cycle + core.l2_latency)
    assert run(program, core).cycles == pytest.approx(2 * tile + last, rel=1e-9)
    assert 2 * tile + last == pytest.approx(13320.8, abs=0.1)
    details = acs.estimate(op, h100, level="sim").details
    assert details["tile_choice"]["chosen"] == "rounds in step"
    assert details["cycles"] == pytest.approx(2 * tile + last, rel=1e-9)
    gb200 = acs.load_hardware("gb200")
    aten = acs.estimate(Norm(rows=8192, hidden=4096, norm="rms", dtype="bf16", kernel="aten_norm"), gb200, "sim")
    assert aten.details["tile_choice"]["chosen"] == "SRAM tiles"
    assert aten.details["programs"][0]["tile"] == "2 rows x 4096 cols"
    # a rule on rates (rounds in step while a pass-2 round crosses L2 within its latency) switched to the rounds
    # in step at 4x the L2 bandwidth, 33.6 -> 38.7 us at 8192 x 4096; the faster of the two cannot get slower
    fast_l2 = gb200.with_overrides({"memory.l2.bandwidth": gb200.memory["l2"].bandwidth * 4})
    aten_op = Norm(rows=8192, hidden=4096, norm="rms", dtype="bf16", kernel="aten_norm")
    assert acs.estimate(aten_op, fast_l2, "sim").seconds <= aten.seconds


def test_thread_stores_write_back_through_dram_within_the_kernel(h100):
    """A writes-behind kernel's thread stores (isa.Store.write_back) are done when they reach L2, but their lines
    still cross the DRAM bus within the kernel (the analytical level counts them in its memory time). One store of
    16 KiB per core on 132 H100 cores: L2 takes 16384 x 132 / 3634 B per cycle = 595.1 cycles, + 475.8 (260 ns)
    = 1,071 cycles to reach it; the write-back is 16384 x 1.24 (write cost) x 132 / 1739.1 B per cycle (3.35 TB/s
    x 0.95 / 1.83 GHz) = 1,542.1 cycles of DRAM, so the program ends one 600 ns latency (1098 cycles) plus that
    bus time after it starts: 2,640.1 cycles. Without the write-back (a cached result) it is the 1,071. The rope
    at 512 tokens (one wave) had no DRAM write time at all: 6.48 us of kernel, under the analytical level's
    bandwidth bound (0.6 + 6.64 us); now 7.24 us."""
    from accelscope.perf.sim.isa import Store

    core = core_model(h100)
    store = Store(("y",), (), "store", 16384, 132, to_cache=True, by_threads=True, simt=True, write_back=True)
    dram = 16384 * core.hbm_write_cost * 132 / core.hbm_bytes_per_cycle
    assert run(Program("store", (store,)), core).cycles == pytest.approx(core.hbm_latency + dram, rel=1e-9)
    assert core.hbm_latency + dram == pytest.approx(2640.1, abs=0.1)
    cached = dataclasses.replace(store, write_back=False)
    assert run(Program("store", (cached,)), core).cycles == pytest.approx(
        16384 * 132 / core.l2_bytes_per_cycle + core.l2_latency, rel=1e-9)
    loops = (64 * 64, 8 * 64)
    rope = Elementwise("rope", 512 * sum(loops), "fp16", inputs=2, outputs=2, flops_per_element=6, kernel="rope",
                       rows=512, row_loops=loops)
    kernel = acs.estimate(rope, h100, level="sim").seconds - h100.runtime.launch_latency
    assert kernel == pytest.approx(7.24e-6, abs=0.01e-6)


def test_flat_grid_blocks_spread_over_the_cores_in_the_sim(h100):
    """An eager GELU over one token of phi-2's 10,240 MLP outputs: ATen's vectorized kernel runs 128-thread blocks
    of 4 elements per thread = 512 elements, so 20 blocks on 20 SMs, not one 10,240-element tile on one SM whose
    exp2 and rcp would queue on a single SM's special-function unit."""
    op = Elementwise("gelu", 10240, "fp16")
    program = acs.estimate(op, h100, level="sim").details["programs"][0]
    assert (program["cores"], program["tiles"], program["tile"]) == (20, 20, "1 rows x 512 cols")
    # 1,024 elements stay one 512-element block per core (2 cores); 8M elements keep 32,768-element rows, each cut
    # in 4 chunks of 8,192 by the SRAM budget (228 KiB / (6 stages x 4 B in + out) = 9,728 elements), as before
    assert acs.estimate(Elementwise("gelu", 1024, "fp16"), h100, level="sim").details["programs"][0]["tiles"] == 2
    big = acs.estimate(Elementwise("gelu", 1 << 23, "fp16"), h100, level="sim").details["programs"][0]
    assert (big["tiles"], big["tile"]) == (1024, "1 rows x 8192 cols")


def test_scalar_kernel_is_bound_by_bytes_in_flight_in_the_sim(h100):
    """The sim runs the analytical level's whole waves of row blocks: vLLM's scalar RMSNorm on 4096 rows takes
    16 waves x 4 load rounds = 64 round trips a pass (test_analytical); the busiest SM's 16 tiles of 2 rows x
    4096 x 2 B = 16 KiB arrive in those 64 round trips, 16 x 16 KiB / 64 = 4 KiB in flight per round."""
    op = Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16", kernel="scalar")
    est = acs.estimate(op, h100, level="sim")
    analytical = acs.estimate(op, h100, level="analytical").seconds  # 57.8 us: 64 x (600 + 260) ns + tail, launch
    # the sim also queues each tile's store behind its loads on the SM's DMA queue, which the analytical level overlaps
    assert analytical < est.seconds < 1.3 * analytical
    assert est.details["programs"][0]["thread_loads_in_flight_bytes_per_core"] == 16 * 2 * 4096 * 2 / 64
    tuned = acs.estimate(Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16"), h100, level="sim").seconds
    assert tuned < est.seconds / 2
    # doubling HBM bandwidth barely helps the scalar kernel (only its stores, which no thread waits on, speed up)
    # and nearly halves the tuned one
    faster = h100.with_overrides({"memory.hbm.bandwidth": "6.7 TB/s"})
    assert acs.estimate(op, faster, level="sim").seconds > 0.9 * est.seconds
    tuned_faster = acs.estimate(Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16"), faster, level="sim").seconds
    assert tuned_faster < 0.7 * tuned


def test_tiles_fit_sram(h100, systolic):
    for hw in (h100, systolic):
        core = core_model(hw)
        mapping = acs.estimate(Gemm(8192, 8192, 8192), hw, level="sim").details["programs"][0]["mapping"]
        footprint = mapping["stages"] * (mapping["block_m"] + mapping["block_n"]) * mapping["block_k"] * 2
        if not mapping["a_resident"]:
            assert footprint <= core.sram_bytes


def test_more_cores_sharing_hbm_are_slower_per_core(h100):
    one = simulate(Softmax(rows=132, cols=32768), h100)  # one tile-row per core: all 132 cores stream at once
    few = simulate(Softmax(rows=8, cols=32768), h100)  # 8 rows: 8 cores share the same HBM
    per_tile_one = one.runs[0].cycles / 1
    per_tile_few = few.runs[0].cycles / 1
    assert per_tile_one > per_tile_few


def test_unknown_isa_key_is_a_clear_error(h100):
    with pytest.raises(SpecError, match=r"isa\.exp3: unknown field.*exp2"):
        h100.with_overrides({"isa.exp3": False})


def test_isa_flag_needing_a_rate_is_explained(h100):
    spec = h100.with_overrides({"isa.log2": True, "sfu.ops_per_clock_per_core": {"exp2": 16}})
    with pytest.raises(ValueError, match=r"isa\.log2 is true but sfu"):
        acs.estimate(Quantize(elements=1024), spec, level="sim")


def test_derived_fields_are_reported(h100):
    a100 = acs.load_hardware("a100-sxm-80gb")
    details = acs.estimate(Norm(rows=1024, hidden=4096), a100, level="sim").details
    assert "core.dma_engines" in details["derived"]
    assert "core.dma_engines" not in acs.estimate(Norm(rows=1024, hidden=4096), h100, level="sim").details["derived"]


def test_unlowered_ops_fall_back_to_analytical(h100):
    for op in (Collective(op="all_reduce", bytes=2**30, group=8),
               Attention(batch=1, heads=8, head_dim=128, q_len=1024, kv_len=1024, phase="bwd")):
        est = acs.estimate(op, h100, level="sim")
        assert est.level == "sim" and "sim_fallback" in est.details


def test_gqa_decode_reads_each_kv_head_once(h100):
    """Decode with GQA: the 8 query heads of a KV head share one unit (FA3 pack_gqa), so the 2.1 GB KV cache is
    streamed once from HBM: 2.15 GB / 3.35 TB/s = 0.64 ms, the analytical level's answer within 15 %."""
    op = Attention(batch=64, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=8192)
    sim = acs.estimate(op, h100, level="sim")
    program = sim.details["programs"][0]
    assert program["gqa_packed"] and program["units"] == 64 * 8 and program["q_block"] == 8
    assert sim.seconds == pytest.approx(acs.estimate(op, h100, level="analytical").seconds, rel=0.15)
    small = acs.estimate(Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=8192), h100,
                         level="sim")
    assert small.details["programs"][0]["split_kv"] == 132 // 8  # 8 units on 132 SMs: KV ranges split 16 ways


def test_fa3_pingpong_overlaps_softmax_with_matrix(h100):
    op = Attention(batch=1, heads=32, head_dim=128, q_len=2048, kv_len=2048)
    pingpong = acs.estimate(op, h100, level="sim").seconds
    serial = acs.estimate(op, h100.with_overrides({"matrix.async_overlap": False}), level="sim").seconds
    assert pingpong < serial


def test_native_mx_scale_and_convert_help_a_compute_bound_quantize(systolic):
    op = Quantize(elements=1 << 22, fmt="mxfp8", src_dtype="fp8_e4m3")
    base = acs.estimate(op, systolic, level="sim").seconds
    native = systolic.with_overrides({"isa.fp8_convert": True, "isa.mx_scale": True})
    assert acs.estimate(op, native, level="sim").seconds < base


def test_show_program_lists_instructions(h100):
    result = simulate(Gemm(256, 256, 256), h100)
    text = "\n".join(describe(i) for i in result.programs[0].instrs)
    assert "load" in text and "mma" in text and "store" in text


# ----- CLI ----------------------------------------------------------------------------------------------------------
def test_cli_sim_gemm_json_with_trace(tmp_path):
    trace = tmp_path / "t.json"
    result = runner.invoke(app, ["sim", "gemm", "--m", "1024", "--n", "1024", "--k", "1024", "--hw", "systolic-128",
                                 "--trace", str(trace), "--show-program", "--json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["level"] == "sim" and data["program"]["gemm"]
    assert "traceEvents" in json.loads(trace.read_text())


@pytest.mark.parametrize("args", [
    ["sim", "softmax", "--rows", "1024", "--cols", "4096", "--hw", "h100-sxm", "--show-program"],
    ["sim", "norm", "--rows", "1024", "--hidden", "4096", "--kind", "layer", "--hw", "h100-sxm"],
    ["sim", "attention", "--batch", "1", "--heads", "8", "--head-dim", "128", "--q-len", "1024", "--kv-len", "1024",
     "--causal", "--hw", "h100-sxm"],
    ["sim", "quantize", "--elements", "1048576", "--fmt", "nvfp4", "--block", "16", "--hw", "b200"],
])
def test_cli_sim_commands_run(args):
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.stdout
    assert "bound by" in result.stdout


def test_cli_isa_study_table_and_json():
    result = runner.invoke(app, ["sim", "isa-study", "--kernel", "softmax", "--hw", "systolic-128", "--arg",
                                 "dtype=fp8_e4m3", "--set", "isa.fp8_convert=true", "--vary", "isa.exp2", "--vary",
                                 "vector.peak.fp32*2", "--json"])
    assert result.exit_code == 0, result.stdout
    rows = json.loads(result.stdout)
    assert [r["variant"] for r in rows] == ["baseline", "isa.exp2 off", "vector.peak.fp32 x2"]
    assert rows[1]["vs_baseline"] > 0.2
    table = runner.invoke(app, ["sim", "isa-study", "--kernel", "attention", "--hw", "h100-sxm", "--arg", "q_len=1024",
                                "--arg", "kv_len=1024"], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "isa.exp2 off" in table.stdout


def test_cli_bad_vary_is_one_line(tmp_path):
    from accelscope.cli.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "isa-study", "--hw", "h100-sxm", "--vary", "isa.exp3"])
    assert exit_info.value.code == 2


def test_sim_converts_int4_weights_on_the_vector_unit_and_streams_them():
    a100 = acs.load_hardware("a100-sxm-80gb")
    w4 = acs.estimate(Gemm(1, 8192, 8192, "bf16", b_dtype="int4"), a100, level="sim")
    bf16 = acs.estimate(Gemm(1, 8192, 8192, "bf16"), a100, level="sim")
    assert w4.bound == "memory" and w4.breakdown["vector"] > 0
    assert w4.details["programs"][0]["mapping"]["block_m"] == 16  # one row in a 16-row tile, as Marlin
    assert bf16.seconds / w4.seconds > 3.2  # 4x fewer bytes, launch and ramp aside
    assert acs.estimate(Gemm(1, 8192, 8192, "bf16"), a100, level="sim").breakdown["vector"] < w4.breakdown["vector"]


def test_gemm_tile_is_the_fastest_candidate_and_beats_the_shape_heuristic(h100, monkeypatch):
    """256 x 6144 x 8192 (a vidur prefill shape): the shape heuristic's tile is 64x64 (384 tiles = 3 rounds on 132
    SMs, 3 x 64 x 64 = 12,288 padded rows x cols per SM; 128x128 gives 96 tiles, 1 round of 16,384, more than
    1.25x). But 64x64 tiles move 160 B of operands per K row per tile (A 64 x 2 B, B 64 x 2 B shared by a cluster
    of 4) while all 384 tiles run, the busiest SM's 3 sharing L2 with the others (2 rounds of 132, then 120); a
    64x256 tile 256 B (B shared by 4 again) while the 96 tiles run: 2.6x less L2 traffic. K is simulated as 43
    macro-slabs of 192 (8256: 128 slabs of 64 > MAX_K_STEPS). The sim runs the candidates and keeps the fastest,
    which is the minimum of running each one."""
    from accelscope.perf.sim import compiler
    from accelscope.perf.sim.compiler import compile_op, gemm_alternatives
    from accelscope.perf.sim.model import work_cycles

    # every SM takes a cluster of 4 here (no compute.cluster_cores), and every tile is offered (not only wgmma's
    # 256-wide ones, _wide_n): the candidate search is under test

    monkeypatch.setattr(compiler, "_wide_n", lambda hw: 0)
    h100 = h100.with_overrides({"compute.cluster_cores": {}})
    op = Gemm(256, 6144, 8192, "fp16")
    core = core_model(h100)
    result = simulate(op, h100)
    choice = result.estimate.details["tile_choice"]
    assert choice["candidates"][0] == "64x64" and choice["chosen"] != "64x64"
    each = [sum(run(p, core).cycles for p in alt.build()) for alt in gemm_alternatives(op, core, h100)]
    assert result.estimate.details["cycles"] == pytest.approx(min(each), rel=1e-12)
    heuristic = sum(run(p, core).cycles for p in compile_op(op, core, h100))
    assert heuristic == each[0] and min(each) < 0.8 * heuristic
    works = {alt.label: alt.work for alt in gemm_alternatives(op, core, h100)}
    l2_64 = works["64x64"].l2_bytes
    assert l2_64 == pytest.approx((2 * 132 + 120) * 160 * 8256)
    assert works["64x256"].l2_bytes == pytest.approx(96 * 256 * 8256)
    # the work bound used to skip candidates never exceeds a candidate's simulated cycles
    for alt, cycles in zip(gemm_alternatives(op, core, h100), each, strict=True):
        assert work_cycles(alt.work, core) <= cycles


def test_gemm_work_bound_is_a_lower_bound():
    from accelscope.perf.sim.compiler import gemm_alternatives
    from accelscope.perf.sim.model import work_cycles

    for chip in ("h100-sxm", "a100-sxm-80gb", "b200", "mi300x"):
        hw = acs.load_hardware(chip)
        core = core_model(hw)
        for op in (Gemm(1, 8192, 8192), Gemm(64, 4096, 4096, "bf16", b_dtype="int4"), Gemm(512, 2560, 8192),
                   Gemm(3000, 5000, 700, "fp8_e4m3"), Gemm(8192, 8192, 8192, batch=2)):
            for alt in gemm_alternatives(op, core, hw):
                cycles = sum(run(p, core).cycles for p in alt.build())
                assert work_cycles(alt.work, core) <= cycles * (1 + 1e-12), (chip, op.describe(), alt.label)


def test_gemm_tile_choice_is_monotone_in_every_rate():
    """The fastest of a fixed candidate set: a faster chip may pick another tile but is never slower."""
    from .conformance import check_monotone, faster_variants

    for chip in ("h100-sxm", "b200"):
        hw = acs.load_hardware(chip)
        variants = faster_variants(hw, 1.5) + faster_variants(hw, 4.0)
        for op in (Gemm(256, 6144, 8192, "fp16"), Gemm(512, 2560, 8192, "fp16"), Gemm(128, 10240, 8192, "fp16"),
                   Gemm(16384, 16384, 4096)):
            check_monotone(op, variants, hw, "sim")


def test_simt_row_kernels_are_monotone_in_every_rate():
    """A SIMT kernel's L2 requests take the first idle window of the L2 pipe (engine._first_gap), the one term of
    the engine that is not max-plus, and a norm's sim keeps the faster of two schedules (norm_alternatives): more
    bandwidth or peak must still never slow them down (the engine docstring's claim, here on vLLM's RMSNorm in one
    wave and in several, ATen's RMSNorm and vLLM's SiluAndMul)."""
    from .conformance import check_monotone, faster_variants

    for chip in ("h100-sxm", "gb200"):
        hw = acs.load_hardware(chip)
        variants = faster_variants(hw, 1.2) + faster_variants(hw, 4.0)
        for op in (Norm(rows=256, hidden=8192, norm="rms", dtype="fp16", kernel="scalar"),
                   Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16", kernel="scalar"),
                   Norm(rows=8192, hidden=4096, norm="rms", dtype="bf16", kernel="aten_norm"),
                   Elementwise("swiglu", 1056 * 3584, "fp16", kernel="scalar", rows=1056)):
            check_monotone(op, variants, hw, "sim")


def test_schedule_issues_drain_instructions_one_per_later_step():
    """Step j's drain instruction c goes with step j + 1 + c: after that step's prefetch, before its work."""
    steps = [Step((VecOp((), (f"l{j}",), f"L{j}", "add", 1),), (VecOp((), (), f"W{j}", "add", 1),),
                  tuple(VecOp((), (), f"D{c}", "add", 1) for c in range(2)) if j == 0 else ()) for j in range(4)]
    order = [i.label for i in schedule(steps, ahead=1)]
    assert order == ["L0", "L1", "W0", "L2", "D0", "W1", "L3", "D1", "W2", "W3"]


def test_gemm_c_store_drains_while_the_next_tile_runs(monkeypatch):
    """b300, 12288 x 18432 x 1024 bf16 on 128x256 tiles: a C tile is 128 x 256 x 2 B = 64 KiB; with all 160 SMs
    storing, its HBM share takes 65,536 B x write cost x 160 / HBM bytes per cycle (~2,900 cycles), longer than
    the 3 slabs of prefetch (3 x ~618 cycles of MMA). Stored in one piece it holds the HBM pipe while the next
    tile's fourth slab load waits behind it (up to ~1,100 of a tile's ~16 x 618 cycles); in 4 pieces over the
    next tile's first steps the loads go in between, and the MMAs wait less for operands. In one piece per step of
    the next tile's 16-step main loop (STORE_CHUNKS None, the default) a piece's HBM share is ~2,900 / 16 = ~181
    cycles, under a step's ~618 cycles of MMA with its two slab loads: the loads never queue behind a store for
    longer than a step, and the matrix unit is busy all but the first tile's prologue (within 3 % of the run)."""
    from accelscope.perf.sim import compiler

    b300 = acs.load_hardware("b300")
    op = Gemm(12288, 18432, 1024, "bf16")
    core = core_model(b300)

    def simulated(chunks: int | None) -> tuple[float, float, float]:
        monkeypatch.setattr(compiler, "STORE_CHUNKS", chunks)
        result = run(compiler.lower_gemm(op, core, b300, (128, 256, 64, 4))[0], core)
        return result.cycles, result.stalls["matrix"].get("wait:dma", 0.0), result.busy["matrix"]

    (one, one_wait, _), (four, four_wait, _) = simulated(1), simulated(4)
    assert four < 0.97 * one and four_wait < 0.75 * one_wait
    assert one - four < 1100 / (16 * 618) * one  # no more than the store's excess over the prefetch
    every, every_wait, busy = simulated(None)
    assert every < 0.97 * four and every_wait < 0.25 * four_wait
    assert every < 1.03 * busy


def test_cta_pair_splits_b_between_the_two_sms():
    """Blackwell's tcgen05 cta_group::2: two CTAs along M share B, each SM's SRAM holding half. 4096³ bf16 on
    128x256 tiles: K slabs of 64 are coarsened to 128 (64 steps > MAX_K_STEPS), so a B slab is 128 x 256 x 2 B =
    64 KiB; on b200 an SM loads 32 KiB of it, multicast to half as many SMs, and HBM still serves the whole slab
    (its miss share); on h100 (no pairs) the SM loads all 64 KiB."""
    from accelscope.perf.sim.compiler import lower_gemm, plan_gemm

    op, tile = Gemm(4096, 4096, 4096), (128, 256, 64, 4)
    for chip, share in (("b200", 2), ("h100-sxm", 1)):
        hw = acs.load_hardware(chip)
        core = core_model(hw)
        plan = plan_gemm(op, core, hw, tile)
        load_b = next(i for i in lower_gemm(op, core, hw, tile)[0].instrs if i.label.startswith("load B k0"))
        assert plan.sim_k_slab == 128 and plan.multicast_b >= 2
        assert load_b.l2_bytes == 65536 / share
        assert load_b.multicast == plan.multicast_b // share
        assert load_b.hbm_bytes == pytest.approx(65536 * plan.hbm_fraction)


def test_thread_stores_behind_latency_bound_reads_leave_the_load_queue_free(h100):
    """A row kernel whose writes drain behind its reads (analytical writes_behind_reads: vLLM's RMSNorm, one wave)
    stores from its threads into L2: the store costs only its L2 crossing (bytes x active cores / the chip's L2
    bytes per cycle) and ends the tile one L2 latency later; it holds no DMA engine."""
    from accelscope.perf.sim.core import _store
    from accelscope.perf.sim.isa import Store

    core = core_model(h100)
    cost = _store(core, Store(("y",), (), "store", 16384, 132, to_cache=True, by_threads=True))
    assert cost.units == (("l2", 16384 * 132 / core.l2_bytes_per_cycle),)
    assert cost.latency == pytest.approx(core.l2_latency)  # 260 ns x 1.83 GHz = 475.8 cycles (no DMA latency)
    engine = _store(core, Store(("y",), (), "store", 16384, 132, to_cache=True))
    assert [unit for unit, _ in engine.units] == ["dma", "l2"]
    # one wave of RMSNorm rows (256 x 8192, fp16) is a thread-store kernel in the sim; 4096 rows (16 waves,
    # re-reads from L2) too; vLLM's SiluAndMul on 1056 tokens (1024-thread blocks, 264 a wave: 4 waves, one pass)
    # stores through the DMA queue
    norm = Norm(rows=256, hidden=8192, norm="rms", dtype="fp16", kernel="scalar")
    from accelscope.perf.sim.compiler import thread_loads

    assert thread_loads(norm, h100).writes_behind
    assert thread_loads(dataclasses.replace(norm, rows=4096), h100).writes_behind
    assert not thread_loads(Elementwise("swiglu", 1056 * 3584, "fp16", kernel="scalar", rows=1056),
                            h100).writes_behind


def test_gemm_mma_pays_the_sram_port_for_slab_writes_and_per_warp_reads():
    """A100 fp16, a 64x64 tile, K slab 32 (mma.sync: a 2x2 grid of 32x32 warp tiles): the slabs are written into
    shared memory once, (64 + 64) x 32 x 2 B = 8,192 B, and read by every warp, A once per warp column and B once per
    warp row: (64 x 2 + 64 x 2) x 32 x 2 B = 16,384 B; 24,576 B through a 128 B/cycle port is 192 cycles, more than
    the slab's ~154 MMA cycles, so the MMA is SRAM-bound (operands read once would be 8,192 B = 64 cycles).
    H100 wgmma, 128x256 bf16, slab 64: written (128 + 256) x 64 x 2 = 49,152 B; read A once, B once per 64-row
    warpgroup (2): (128 + 2 x 256) x 64 x 2 = 81,920 B; 131,072 B in all. A systolic array reads no SRAM per warp."""
    from accelscope.perf.sim.compiler import gemm_sram_bytes, plan_gemm
    from accelscope.perf.sim.core import _mma
    from accelscope.perf.sim.isa import Mma

    a100 = acs.load_hardware("a100-sxm-80gb")
    core = core_model(a100)
    op = Gemm(1024, 1024, 1024, "fp16")
    plan = plan_gemm(op, core, a100, (64, 64, 32, 4))
    assert gemm_sram_bytes(op, plan, a100, False) == 24_576
    cost = _mma(core, Mma((), (), "mma", 64, 64, 32, "fp16", 0, 24_576))
    assert dict(cost.units)["matrix"] == pytest.approx(24_576 / core.sram_bytes_per_cycle)  # ~192 cycles
    assert dict(cost.units)["matrix"] > mma_cycles(core, 64, 64, 32, "fp16")
    h100 = acs.load_hardware("h100-sxm")
    wide = Gemm(8192, 8192, 1024, "bf16")  # 16 slabs of 64: no macro-slabs
    assert gemm_sram_bytes(wide, plan_gemm(wide, core_model(h100), h100, (128, 256, 64, 4)), h100, False) == 131_072
    systolic = acs.load_hardware("systolic-128")
    assert gemm_sram_bytes(wide, plan_gemm(wide, core_model(systolic), systolic), systolic, False) == 0.0


def test_wgmma_chips_offer_tiles_narrower_than_256_only_to_skinny_gemms():
    """H100's wgmma takes N up to 256 per warpgroup: a 1024^3 fp8 GEMM is offered 256-wide tiles only (64x128 would
    read B from SRAM per 64 rows for half the columns); M = 64 fits in one row of 64-row tiles, so narrow ones are
    offered too. A100's mma.sync has no such rule: its 64x64 and 128x128 tiles stay."""
    from accelscope.perf.sim.compiler import gemm_tiles

    h100 = acs.load_hardware("h100-sxm")
    core = core_model(h100)
    assert {t[1] for t in gemm_tiles(Gemm(1024, 1024, 1024, "fp8_e4m3"), core, h100)} == {256}
    assert min(t[1] for t in gemm_tiles(Gemm(64, 4096, 4096, "bf16"), core, h100)) < 256
    a100 = acs.load_hardware("a100-sxm-80gb")
    assert min(t[1] for t in gemm_tiles(Gemm(1024, 1024, 1024, "fp16"), core_model(a100), a100)) < 256


def test_a_partly_missing_load_holds_its_dma_slots_for_the_mean_latency_of_its_bytes():
    """H100 (L2 latency ~476 cycles, DRAM ~1,098, 8 requests outstanding per engine): a 16 KiB slab of which a
    quarter misses L2 holds a slot 0.75 x 476 + 0.25 x 1,098 = ~631 cycles on average, so the engine is busy
    16,384 / 128 = 128 cycles + 631 / 8 = ~79 cycles (not 1,098 / 8 = ~137 as if every byte missed). It completes
    with its last byte: one DRAM latency. An all-hit and an all-miss load are unchanged."""
    from accelscope.perf.sim.core import _load

    core = core_model(acs.load_hardware("h100-sxm"))
    assert (core.l2_latency, core.hbm_latency) == (pytest.approx(475.8), pytest.approx(1098.0))
    cost = _load(core, Load((), (), "slab", 16384, 4096, 1))
    engine = 16384 / min(core.dma_bytes_per_cycle, core.sram_bytes_per_cycle)  # ~128 cycles
    assert dict(cost.units)["dma"] == pytest.approx(engine + (0.75 * 475.8 + 0.25 * 1098.0) / 8, rel=1e-6)
    assert cost.latency == pytest.approx(1098.0)
    assert dict(_load(core, Load((), (), "hit", 16384, 0, 1)).units)["dma"] == pytest.approx(engine + 475.8 / 8)
    assert dict(_load(core, Load((), (), "miss", 16384, 16384, 1)).units)["dma"] == pytest.approx(engine + 1098.0 / 8)


def test_sim_reads_a_warm_operand_from_l2():
    """vidur's residual add at 4096 x 8192 fp16 (Elementwise.warm_inputs=1: the operand the down_proj just wrote):
    the chip-wide cache still holds its resident share of that 67.1 MB operand, 25 MiB = 26.2 MB of H100's 50 MiB
    L2, which then cross L2 but not DRAM. DRAM time saved = 26.2 MB / (3.35 TB/s x 0.95 read efficiency) =
    8.24 us, at the sim level as at the analytical level."""
    import accelscope as acs
    from accelscope.workload.ops import Elementwise

    def seconds(warm: int, level: str) -> float:
        op = Elementwise(op="add", elements=4096 * 8192, dtype="fp16", inputs=2, warm_inputs=warm)
        return acs.estimate(op, "h100-sxm", level=level).seconds

    saved = 25 * 2**20 / (3.35e12 * 0.95)
    assert seconds(0, "sim") - seconds(1, "sim") == pytest.approx(saved, rel=0.05)
    assert seconds(0, "analytical") - seconds(1, "analytical") == pytest.approx(saved, rel=0.05)


def test_bandwidth_bound_stream_pays_the_dram_latency_once():
    """A bandwidth-bound stream's first requests reach DRAM one DRAM latency after they leave the cores (the bus
    moves nothing for them before), so the sim charges that latency once in front of the bus time, as the
    analytical level's latency + transfer: an eager 4096 x 8192 fp16 add on h100-sxm (read 2 x 67,108,864 B,
    write 67,108,864 B; HBM 3.35 TB/s x 0.95, writes x 1.24) takes 0.6 us + 134,217,728 / 3.1825e12 (42.17 us)
    + 67,108,864 x 1.24 / 3.1825e12 (26.15 us) + the 0.26 us L2 tail of its last stores = 69.18 us. Before
    (the DRAM pipe busy from the first instruction's start) the sim gave 68.58 us, the latency hidden."""
    hw = acs.load_hardware("h100-sxm")
    op = Elementwise("add", 4096 * 8192, "fp16")
    kernel = acs.estimate(op, hw, "sim").seconds - hw.runtime.launch_latency
    assert kernel == pytest.approx(0.6e-6 + 134_217_728 / 3.1825e12 + 67_108_864 * 1.24 / 3.1825e12 + 0.26e-6,
                                   rel=2e-3)


def test_latency_bound_kernel_keeps_its_write_drains_in_order():
    """vLLM's SiluAndMul as a flat scalar kernel over 4096 x 11008 fp16 outputs on h100-sxm: 4 B in flight per
    thread (one 2-byte load of x and of y) x 132 x 2048 resident threads = 1,081,344 B; its 180,355,072 B of reads
    take 166.8 round trips x 600 ns = 100.07 us, above one latency + its transfer (0.6 + 56.67 + 35.14 us): its
    reads are latency-bound round after round (analytical round_trips_bind), so the sim keeps its loads and its
    write drains in program order on the DRAM pipe (isa.Load/Store.defer_dram False), as the analytical level's
    drain term. A 128-token add (all of its 4 MiB of reads in flight at once, one round trip) is not."""
    from accelscope.perf.analytical.streaming import round_trips_bind
    from accelscope.perf.sim.compiler import thread_loads

    hw = acs.load_hardware("h100-sxm")
    silu = Elementwise("swiglu", 4096 * 11008, "fp16", kernel="scalar")
    add = Elementwise("add", 128 * 8192, "fp16")
    assert round_trips_bind(silu, hw) and thread_loads(silu, hw).in_order
    assert not round_trips_bind(add, hw) and not thread_loads(add, hw).in_order
    assert not round_trips_bind(add, acs.load_hardware("h200-sxm"))  # no DRAM latency in the preset: no bound
    analytical, sim = (acs.estimate(silu, hw, level).seconds for level in ("analytical", "sim"))
    assert sim == pytest.approx(analytical, rel=0.03)


def test_simt_loads_and_stores_share_l2_without_queueing():
    """PyTorch's eager RMSNorm (ATen vectorized_layer_norm_kernel, "aten_norm": 128 threads per row, 8-byte loads,
    the row re-read from L2) over 8192 x 4096 bf16 on gb200: 148 SMs x 2048 / 128 = 2,368 rows per wave, 4 waves;
    a pass over a row is 4096 / (128 x 4) = 8 round trips, the first pass from DRAM (800 ns), the second from L2
    (150 ns): 4 x 8 x 0.95 us = 30.4 us, plus the 150 ns L2 tail of the last stores. The warps' loads and stores
    reach the L2 slices concurrently (isa.Load/Store.simt): a store no longer holds the next round's load behind
    it on an in-order L2 pipe, which had the sim at 35.5 us (+17 %); it is now within 4 % of the bound."""
    hw = acs.load_hardware("gb200")
    op = Norm(rows=8192, hidden=4096, norm="rms", dtype="bf16", kernel="aten_norm")
    bound = 4 * 8 * (0.8e-6 + 0.15e-6) + 0.15e-6
    kernel = acs.estimate(op, hw, "sim").seconds - hw.runtime.launch_latency
    assert bound <= kernel < 1.04 * bound


def test_sim_rounds_to_bf16_with_integer_ops_on_gfx942():
    # isa.narrow_ops: gfx942 narrows fp32 to bf16 with 4.5 VALU slots per element, no packed convert. 1024 elements
    # on MI300X's 163.4e12 / (304 x 2.1e9 x 2) = 127.98 lane-slots per CU clock: 1024 x 4.5 / 127.98 = 36.007
    # cycles of vector time; fp16 keeps the packed convert (two elements per slot): 1024 / 2 / 127.98 = 4.0007
    from accelscope.perf.sim.isa import Convert

    core = core_model(acs.load_hardware("mi300x"))
    to_bf16 = core.cost(Convert(("x",), ("y",), "P to bf16", "bf16", 1024))
    to_fp16 = core.cost(Convert(("x",), ("y",), "P to fp16", "fp16", 1024))
    assert dict(to_bf16.units)["vector"] == pytest.approx(36.007, rel=1e-4)
    assert dict(to_fp16.units)["vector"] == pytest.approx(4.0007, rel=1e-4)
    # an op's dtype alias ("bfloat16", kept as written by Norm/Elementwise) is the same format: same 36.007 cycles
    alias = core.cost(Convert(("x",), ("y",), "P to bfloat16", "bfloat16", 1024))
    assert dict(alias.units)["vector"] == pytest.approx(36.007, rel=1e-4)


def test_simt_l2_requests_take_the_pipe_in_time_order_not_program_order(h100):
    """The L2 pipe serves the warps' requests when they arrive, not in program order (engine._first_gap). On one
    H100 core: 131,072 FMAs on 138.47 lane-slots per cycle (67 TFLOPS / 132 SMs / 1.83 GHz / 2) = 946.54 cycles,
    + 4 cycles of latency, then a SIMT load of 16 KiB x 132 cores waits on them: L2 from 950.54 for
    16384 x 132 / 3633.88 B per cycle = 595.15 cycles. A thread store listed after it but issued at cycle 2 (no
    operands) reaches L2 in the idle window before the load: done at 2 + 595.15 + 475.8 (260 ns) = 1,072.9, and
    the program ends with the load at 950.54 + 595.15 + 475.8 = 2,021.49 cycles. In program order the store
    queued behind the load's reservation to 1,545.69 and the program ended at 1,545.69 + 595.15 + 475.8 =
    2,616.64. A store twice as large (1,190.29 cycles) does not fit the 948.54-cycle window and goes after the
    load: 1,545.69 + 1,190.29 + 475.8 = 3,211.78."""
    from accelscope.perf.sim.isa import Store

    core = core_model(h100)
    compute = VecOp((), ("x",), "compute", "fma", 131072, 1.0)
    load = Load(("x",), ("a",), "late load", 16384, 0, 132, simt=True)
    store = Store((), (), "early store", 16384, 132, to_cache=True, by_threads=True, simt=True)
    result = run(Program("p", (compute, load, store)), core, trace=True)
    assert result.cycles == pytest.approx(2021.49, abs=0.01)
    stored = next(e for e in result.events if e.label == "early store")
    assert (stored.start, stored.cycles) == pytest.approx((2.0, 595.15), abs=0.01)
    big = dataclasses.replace(store, hbm_bytes=2 * 16384)
    assert run(Program("p", (compute, load, big)), core).cycles == pytest.approx(3211.78, abs=0.01)


@pytest.mark.parametrize("preset", ["systolic-128", "tpu-v5e", "gaudi3"])
def test_attention_on_a_systolic_array_is_the_analytical_estimate(preset):
    """The FA2/FA3/FA4 tile programs are GPU kernels: on a systolic array they held a 64-key block per fold and
    streamed one query row (decode) through it, 7-18x the analytical level, a schedule no TPU kernel runs. The sim
    falls back and says so, as for the other kernels its programs do not describe."""
    hw = acs.load_hardware(preset)
    op = Attention(batch=32, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=4096)
    sim = acs.estimate(op, hw, level="sim")
    assert "systolic arrays" in sim.details["sim_fallback"]
    assert sim.seconds == acs.estimate(op, hw, level="analytical").seconds
