"""Which block of output tiles one wave covers (analytical.gemm.wave_block), and the DRAM traffic that follows:
a non-persistent grid launched in blockIdx order (CUTLASS 2.x / cuBLAS sm80 kernels) runs down M first, so a tall
GEMM whose A does not fit in L2 reads A once per N column; a persistent kernel's rasterized walk reads it once.
Expected values derived by hand in the comments."""

import math

import pytest

import accelscope as acs
from accelscope.perf.analytical.gemm import gemm_mapping, wave_block
from accelscope.workload import Gemm


def test_wave_block_by_hand() -> None:
    # 108 CTAs (A100), 3,136 x 2 tiles. Grid order: blockIdx.x is the M tile and x launches fastest, so a wave is
    # 108 consecutive M tiles of one N column. Persistent (near-square): ceil(sqrt(108)) = 11 rows, then
    # ceil(108 / 11) = 10 columns, capped at the 2 there are.
    assert [float(x) for x in wave_block(108, 3136, 2, grid_order=True)] == [108, 1]
    assert [float(x) for x in wave_block(108, 3136, 2)] == [11, 2]
    # fewer M tiles than CTAs: the wave holds every M tile of ceil(108 / 64) = 2 columns
    assert [float(x) for x in wave_block(108, 64, 40, grid_order=True)] == [64, 2]


def test_a100_grid_reads_a_once_per_n_column() -> None:
    a100 = acs.load_hardware("a100-sxm-80gb")
    m, n, k = 55296, 512, 4096  # fp16: A = 453 MB, far above A100's 40 MB L2
    mapping = gemm_mapping(m, n, k, 1, 2, 2, 2, 200e12, a100)
    bm, bn = mapping.block_m, mapping.block_n
    tiles_m, tiles_n = math.ceil(m / bm), math.ceil(n / bn)
    assert tiles_m >= 108 and tiles_n >= 2  # a column holds more than a wave of tiles; N spans several columns
    # a wave: 108 A row panels and one B column panel; every wave re-reads its panels
    waves = math.ceil(tiles_m * tiles_n / 108)
    per_wave = (108 * bm * 2 + bn * 2) * k
    c = m * n * 2
    assert mapping.hbm_bytes == pytest.approx(waves * per_wave + c)
    # so A comes from DRAM once per N column: at the chosen 64 x 128 tile, 32 waves x (108 x 64 x 2 + 128 x 2) x
    # 4,096 = 1,845,493,760 B (4 x A = 1,811,939,328 B, plus B once per wave) + C 56,623,104 B
    assert (bm, bn) == (64, 128)
    assert mapping.hbm_bytes == pytest.approx(1_902_116_864)
    assert mapping.hbm_bytes >= tiles_n * m * k * 2


def test_persistent_kernels_read_a_once() -> None:
    # H100 (persistent, rasterized): the same GEMM reads A and B once: 452,984,832 + 4,194,304 + C 56,623,104 B
    mapping = gemm_mapping(55296, 512, 4096, 1, 2, 2, 2, 200e12, acs.load_hardware("h100-sxm"))
    assert mapping.hbm_bytes == pytest.approx(452_984_832 + 4_194_304 + 56_623_104)


def test_superbench_tall_gemm_on_a100() -> None:
    # AZ-008: 802,816 x 192 x 768 fp16 on A100. In grid order a 128-wide tile leaves two N columns and reads A
    # (1.233 GB) twice; the search takes a tile that spans N = 192 in one column (256 wide) instead, matrix-bound
    a100 = acs.load_hardware("a100-sxm-80gb")
    est = acs.estimate(Gemm(m=802816, n=192, k=768, dtype="fp16"), a100, "analytical")
    mapping = est.details["mapping"]
    assert (mapping["block_m"], mapping["block_n"], mapping["waves"]) == (64, 256, 117)
    # 12,544 tiles in waves of 108 M tiles: 117 waves x (108 x 64 x 2 + 256 x 2) x 768 = 1,288,175,616 B (A once
    # plus B per wave), + C 308,281,344 B
    assert mapping["hbm_bytes"] == pytest.approx(117 * (108 * 64 * 2 + 256 * 2) * 768 + 802816 * 192 * 2)
    # two 128-wide columns would read A twice: 2 x 1,233,125,376 + C = 2.77 GB, 1.18 GB more
    assert 2 * 802816 * 768 * 2 + 802816 * 192 * 2 - mapping["hbm_bytes"] == pytest.approx(1_178_075_136)


def test_sim_misses_follow_the_same_wave_block() -> None:
    from accelscope.perf.sim.compiler import _hbm_fraction
    from accelscope.perf.sim.core import core_model

    a100 = acs.load_hardware("a100-sxm-80gb")
    core = core_model(a100)
    op = Gemm(m=802816, n=192, k=768, dtype="fp16")
    # 128 x 128 tiles: 6,272 x 2 = 12,544 tiles, 117 rounds of 108; loaded = 12,544 x 256 x 2 B x 768 = 4,932,501,504 B.
    # Grid order: a round reads 108 A panels and 1 B panel, 117 x (108 x 128 + 128) x 2 x 768 = 2,507,341,824 B
    # from DRAM (A twice); near-square: 11 x 2 panels a round, less than A + B once (1,233,420,288 B), so A + B once
    assert _hbm_fraction(op, core, 128, 128, 768, 6272, 2, 12544, True) == pytest.approx(2_507_341_824 / 4_932_501_504)
    assert _hbm_fraction(op, core, 128, 128, 768, 6272, 2, 12544) == pytest.approx(1_233_420_288 / 4_932_501_504)


def test_superbench_rate_counts_2k_minus_1_flops() -> None:
    from accelscope.measure import MeasuredRow
    from accelscope.measure.predict import gemm_convention_flops, predict

    # superbench's cublaslt_gemm prints m·n·(2k - 1) / time: 1024 x 2145 = 2,196,480 outputs x 2047 =
    # 4,496,194,560 FLOPs, not x 2048 = 4,498,391,040; another harness keeps 2·M·N·K
    def row(op: str) -> MeasuredRow:
        return MeasuredRow(id="AZ-T", hardware="NVIDIA A100 SXM4 80GB", category="gemm", op=op, dtype="fp16",
                           shape={"M": 1024, "N": 2145, "K": 1024}, metric="throughput", value=100.0, unit="TFLOP/s")

    op = Gemm(m=1024, n=2145, k=1024, dtype="fp16")
    assert gemm_convention_flops(row("cuBLASLt GEMM (superbench cublaslt_gemm)"), op) == 4_496_194_560
    assert gemm_convention_flops(row("torch.matmul"), op) == 4_498_391_040
    # the same predicted time, so the rates differ by exactly 2047 / 2048
    sb, other = (predict(row(name), "analytical").value for name in ("superbench cublaslt_gemm", "torch.matmul"))
    assert sb / other == pytest.approx(2047 / 2048, rel=1e-12)
