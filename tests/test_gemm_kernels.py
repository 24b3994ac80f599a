"""Fixed library GEMM kernels (Gemm.kernel): their tiles as the library dispatches them, and the short-M MMA cost."""

import pytest

import accelscope as acs
from accelscope.perf.analytical.gemm import GemmKernel, gemm_mapping, library_kernel
from accelscope.workload import Gemm


def test_torch_grouped_mm_tiles_follow_groupmm_dispatch() -> None:
    b200, h100 = acs.load_hardware("b200"), acs.load_hardware("h100-sxm")
    # GroupMM.cu: sm10x -> 1-SM 64x128x128 for every shape; sm90 -> 64x128x128 when M or N <= 128, else 128x256x64
    # CUTLASS's grouped scheduler walks down M (raster "m")
    assert library_kernel("torch-grouped-mm", 16384, 2048, 7168, b200) == GemmKernel(
        "torch-grouped-mm", 64, 128, 128, 2, raster="m")
    assert library_kernel("torch-grouped-mm", 16384, 2048, 7168, h100) == GemmKernel(
        "torch-grouped-mm", 128, 256, 64, 2, raster="m")
    assert library_kernel("torch-grouped-mm", 64, 2048, 7168, h100) == GemmKernel(
        "torch-grouped-mm", 64, 128, 128, 2, raster="m")


def test_fbgemm_mx8_tiles_follow_its_heuristic() -> None:
    b200 = acs.load_hardware("b200")
    # mx8mx8bf16_grouped.cu get_kernel_via_heuristics: M/G = 16384 > 8192, N <= 8192, K > 512 -> 256_128_256_2_1_1,
    # a 2-SM kernel: 128 x 128 of C per SM; FBGEMM hands CUTLASS the transposed problem, so its walk down M runs
    # along the Gemm's N (raster "n")
    assert library_kernel("fbgemm-mx8-grouped", 16384, 2048, 7168, b200) == GemmKernel(
        "fbgemm-mx8-grouped", 128, 128, 256, 2, True, raster="n")
    # M <= 128, N <= 512 -> 256_64_256_2_1_1: 128 x 64 per SM; N = 1024 with K > 4096 -> the 1-SM 128_64_256_1_1_1
    assert library_kernel("fbgemm-mx8-grouped", 64, 512, 7168, b200) == GemmKernel(
        "fbgemm-mx8-grouped", 128, 64, 256, 2, True, raster="n")
    assert library_kernel("fbgemm-mx8-grouped", 64, 1024, 7168, b200) == GemmKernel(
        "fbgemm-mx8-grouped", 128, 64, 256, raster="n")
    # Blackwell only: no such kernel on Hopper, the tile is searched there
    assert library_kernel("fbgemm-mx8-grouped", 16384, 2048, 7168, acs.load_hardware("h100-sxm")) is None


def test_short_mma_costs_a_full_rate_instruction_on_blackwell() -> None:
    b200 = acs.load_hardware("b200")
    peak = 2250e12  # bf16 FLOP/s passed as the sustained peak
    kernel = library_kernel("torch-grouped-mm", 64, 128 * 148, 4096, b200)
    assert kernel is not None
    # 1 x 148 tiles of 64 x 128 = one wave on 148 SMs; each tile's M = 64 tcgen05 MMA takes the time of M = 128:
    # 2 x 128 x 128 x 4096 FLOP / (2250e12 x clock ratio / 148 SMs per s)
    mapping = gemm_mapping(64, 128 * 148, 4096, 1, 2, 2, 2, peak, b200, kernel=kernel)
    assert (mapping.block_m, mapping.block_n, mapping.waves, mapping.split_k) == (64, 128, 1, 1)
    core_peak = peak * b200.compute.clock_ratio / 148
    assert mapping.mma_seconds == pytest.approx(2 * 128 * 128 * 4096 / core_peak)


def test_unknown_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Gemm\.kernel"):
        Gemm(m=64, n=64, k=64, kernel="cublas-magic")


def test_clusters_of_four_leave_h100_sms_idle() -> None:
    import numpy as np

    from accelscope.perf.analytical.gemm import cluster_limit

    h100, b200 = acs.load_hardware("h100-sxm"), acs.load_hardware("b200")
    # h100-sxm compute.cluster_cores: clusters of 8 fill 120 SMs (measured), of 4 124, of 2 (one TPC) all 132
    assert list(cluster_limit(h100, np.array([1.0, 2.0, 4.0, 8.0]))) == [132, 132, 124, 120]
    assert list(cluster_limit(b200, np.array([1.0, 4.0]))) == [148, 148]  # none listed: every SM
    # 256 x 8192 in 64 x 256 tiles: 4 x 32 = 128 tiles, one wave in clusters of 2 (132 SMs) but two in clusters of 4
    # (124 SMs), so the search keeps clusters of 2
    small = gemm_mapping(256, 8192, 4096, 1, 2, 2, 2, 989.4e12 * 0.83, h100)
    assert (small.block_m, small.block_n, small.cluster, small.tiles, small.waves) == (64, 256, 2, 128, 1)
    # 1024 x 15872 in 128 x 256 tiles: 8 x 62 = 496 tiles = 4 waves of 124 exactly in clusters of 4 (ceil(496 / 132)
    # = 4 in clusters of 2 as well): the search keeps the larger cluster, 4 waves of 124 SMs
    exact = gemm_mapping(1024, 128 * 124, 4096, 1, 2, 2, 2, 989.4e12 * 0.83, h100)
    assert (exact.block_m, exact.block_n, exact.cluster, exact.tiles, exact.waves) == (128, 256, 4, 496, 4)


def test_sim_takes_the_largest_cluster_that_costs_no_wave() -> None:
    from accelscope.perf.sim.compiler import _multicast

    h100 = acs.load_hardware("h100-sxm")
    # B (256 columns x 2 B) wider than A (64 rows x 2 B): the cluster runs along M. 128 tiles: one wave of 132 SMs,
    # two in clusters of 4 (124 SMs) -> clusters of 2; 100 tiles fit 124 -> clusters of 4
    assert _multicast(h100, 64 * 2, 256 * 2, 4, 32, 128) == (1, 2)
    assert _multicast(h100, 64 * 2, 256 * 2, 4, 25, 100) == (1, 4)


def test_cluster_table_refuses_fewer_cores_than_one_cluster_and_caps_at_the_chip() -> None:
    h100 = acs.load_hardware("h100-sxm")
    with pytest.raises(ValueError, match="fewer than one cluster's 8"):
        h100.with_overrides({"compute.cluster_cores": {8: 4}})
    # a sweep that shrinks the chip keeps the preset's table: 120 cores for clusters of 8, capped at 100
    assert h100.with_overrides({"compute.cores": 100}).compute.cluster_capacity(8) == 100


def test_sim_keeps_unclustered_tiles_whatever_the_table_lists_for_size_one() -> None:
    # a size-1 entry below compute.cores left the sim no cluster to choose (max() of an empty list)
    spec = acs.load_hardware("h100-sxm").with_overrides({"compute.cluster_cores": {1: 100, 2: 100, 4: 100}})
    assert acs.estimate(Gemm(m=4096, n=4096, k=4096), spec, level="sim").seconds > 0


def test_grouped_gemm_runs_the_library_kernel_it_names() -> None:
    from accelscope.workload.ops import GroupedGemm

    b200 = acs.load_hardware("b200")
    # 148 groups of 64 rows x 128 cols x 4096: one 64 x 128 tile each, one wave on 148 SMs (as the Gemm test above);
    # the M = 64 tcgen05 MMA takes a full-M instruction's time: 2 x 128 x 128 x 4096 FLOP per SM at the sustained
    # per-SM peak (2250e12 x matrix efficiency x clock ratio / 148)
    op = GroupedGemm(groups=148, n=128, k=4096, tokens=64 * 148, kernel="torch-grouped-mm")
    est = acs.estimate(op, b200, "analytical")
    core_peak = 2250e12 * b200.matrix_efficiency("bf16") * b200.compute.clock_ratio / 148
    assert est.breakdown["matrix"] == pytest.approx(2 * 128 * 128 * 4096 / core_peak, rel=1e-6)
    assert est.details["kernel"] == "torch-grouped-mm"
    with pytest.raises(ValueError, match=r"GroupedGemm\.kernel"):
        GroupedGemm(groups=2, n=64, k=64, tokens=128, kernel="cublas-magic")


def test_fixed_kernels_take_cutlass_auto_stages_at_both_levels() -> None:
    """CUTLASS StageCountAutoCarveout: (SMEM - 24,576 B epilogue) // bytes per stage, B200 / H100 233,472 B.
    FBGEMM 256 x 64 x 256 2-SM fp8: A 128 x 256 + half of B 32 x 256 = 40,960 B, scales (128 + 128 rows) x
    256 / 32 = 2,048 B, barrier 128 B -> 43,136 B: 208,896 // 43,136 = 4 (not the 5 of the slabs alone).
    256 x 256 x 256: 65,536 + (128 + 256) x 8 = 3,072 + 128 = 68,736 B -> 3. torch._grouped_mm on B200,
    64 x 128 x 128 bf16: 49,152 + 128 = 49,280 B -> 4. The sim takes the same count."""
    from accelscope.perf.analytical.gemm import library_stages
    from accelscope.perf.sim.compiler import _gemm_candidates
    from accelscope.perf.sim.core import core_model

    b200 = acs.load_hardware("b200")
    smem = 233_472.0
    assert library_stages(GemmKernel("fbgemm-mx8-grouped", 128, 64, 256, 2, True), 1, smem) == 4
    assert library_stages(GemmKernel("fbgemm-mx8-grouped", 128, 256, 256, 2, True), 1, smem) == 3
    assert library_stages(GemmKernel("torch-grouped-mm", 64, 128, 128, 2), 2, smem) == 4
    op = Gemm(m=64, n=512, k=7168, dtype="mxfp8", batch=8, out_dtype="bf16", kernel="fbgemm-mx8-grouped")
    assert acs.estimate(op, b200, level="analytical").details["mapping"]["stages"] == 4
    assert _gemm_candidates(op, core_model(b200), b200)[0][0] == (128, 64, 256, 4)

def test_sim_runs_a_grouped_gemm_on_the_kernel_it_names() -> None:
    from accelscope.workload.ops import GroupedGemm

    b200 = acs.load_hardware("b200")
    # 4 equal groups of 4096 rows are the batched GEMM of 4 (grouped_rows): the same library tile at both levels
    grouped = GroupedGemm(groups=4, n=4096, k=2048, tokens=4 * 4096, kernel="torch-grouped-mm")
    batched = Gemm(m=4096, n=4096, k=2048, batch=4, kernel="torch-grouped-mm")
    assert acs.estimate(grouped, b200, "sim").seconds == pytest.approx(acs.estimate(batched, b200, "sim").seconds)
    searched = GroupedGemm(groups=4, n=4096, k=2048, tokens=4 * 4096)
    assert acs.estimate(grouped, b200, "sim").seconds > 1.5 * acs.estimate(searched, b200, "sim").seconds


def test_grouped_scheduler_rewalks_the_operand_l2_cannot_hold() -> None:
    """CUTLASS's grouped scheduler walks each group's tiles in a set order (raster_stream_bytes). FBGEMM's MXFP8
    weight gradient on B200 (TA-063: 8 groups of 2048 x 7168 x 16384, raster "n", 128 x 128 tiles per SM):
    16 x 56 tiles per group; B = 16384 x 7168 x 1 B = 117.4 MB > half of the 126 MiB L2 (66.1 MB), walked
    16 x 56 / max(148, 56) = 6.054 times; A = 2048 x 16384 = 33.6 MB once:
    8 x (33,554,432 + 6.054 x 117,440,512) = 5.956e9 B. Its 2D-3D forward (16384 x 2048 x 7168): B = 7168 x 2048 =
    14.7 MB fits, read once: 8 x (117,440,512 + 14,680,064) = 1.057e9 B."""
    import numpy as np

    from accelscope.perf.analytical.gemm import raster_stream_bytes

    l2 = 126 * 2**20
    wgrad = raster_stream_bytes("n", 2048, 7168, 16384, 8, 1, 1, np.array([16.0]), np.array([56.0]),
                                np.array([148.0]), l2)
    assert wgrad[0] == pytest.approx(8 * (2048 * 16384 + 16 * 56 / 148 * 16384 * 7168))
    assert wgrad[0] == pytest.approx(5.956e9, rel=1e-3)
    forward = raster_stream_bytes("n", 16384, 2048, 7168, 8, 1, 1, np.array([128.0]), np.array([16.0]),
                                  np.array([148.0]), l2)
    assert forward[0] == pytest.approx(8 * (16384 * 7168 + 7168 * 2048))
    # raster "m" is the transpose: the same wgrad with A and B exchanged re-walks A
    assert raster_stream_bytes("m", 7168, 2048, 16384, 8, 1, 1, np.array([56.0]), np.array([16.0]),
                               np.array([148.0]), l2)[0] == pytest.approx(wgrad[0])
    # the mapping reports it: TA-063's DRAM bytes are the operands' 5.956e9 plus the bf16 C (8 x 2048 x 7168 x 2)
    b200 = acs.load_hardware("b200")
    kernel = library_kernel("fbgemm-mx8-grouped", 2048, 7168, 16384, b200)
    mapping = gemm_mapping(2048, 7168, 16384, 8, 1.03125, 1.03125, 2, 3e15, b200, tile_bytes=1, kernel=kernel)
    c_bytes = 8 * 2048 * 7168 * 2
    assert mapping.hbm_bytes == pytest.approx(1.03125 * 5.956e9 + c_bytes, rel=1e-3)


def test_uneven_contraction_groups_load_the_core_with_the_largest_group() -> None:
    """jagged_waves: TA-063's 8 groups of 16 x 56 = 896 tiles on 148 SMs: 6 whole rounds per group (888 tiles), 8
    left over per group, dealt to 8 successive SMs, shifted by 8 per group: 64 <= 148, so no SM holds two. The
    busiest holds 8 x 6 mean tiles plus one of the largest group, 8 x 0.34 mean tiles: 50.72, against the 49
    waves (ceil(7168 / 148)) of equal groups. A group size that the SMs divide leaves no remainder: whole waves."""
    import numpy as np

    from accelscope.measure.rows_gemm import jagged_largest_share
    from accelscope.perf.analytical.gemm import jagged_waves

    share = jagged_largest_share(8)  # H_8 / 8 = 2.7179 / 8
    assert share == pytest.approx(0.33973, abs=1e-5)
    assert jagged_waves(np.array([896.0]), np.array([148.0]), 8, share)[0] == pytest.approx(48 + 8 * share)
    assert jagged_waves(np.array([296.0]), np.array([148.0]), 8, share)[0] == 16  # 2 x 148 per group: even
    # equal groups (share 1/8) never exceed the whole waves: ceil(8 x 896 / 148) = 49
    assert jagged_waves(np.array([896.0]), np.array([148.0]), 8, 1 / 8)[0] == 49
    # the mapping's busy time follows: TA-063 with and without the jagged split, the same tile time
    b200 = acs.load_hardware("b200")
    kernel = library_kernel("fbgemm-mx8-grouped", 2048, 7168, 16384, b200)
    even = gemm_mapping(2048, 7168, 16384, 8, 1.03125, 1.03125, 2, 3e15, b200, tile_bytes=1, kernel=kernel)
    jagged = gemm_mapping(2048, 7168, 16384, 8, 1.03125, 1.03125, 2, 3e15, b200, tile_bytes=1, kernel=kernel,
                          k_group_share=share)
    assert jagged.tile_seconds == even.tile_seconds
    assert jagged.compute_seconds - jagged.prologue_seconds == pytest.approx(
        (48 + 8 * share) * even.tile_seconds)
    assert even.compute_seconds - even.prologue_seconds == pytest.approx(49 * even.tile_seconds)
    with pytest.raises(ValueError, match="k_group_share"):
        Gemm(m=64, n=64, k=64, batch=8, k_group_share=0.1)  # less than an equal share, 1/8
