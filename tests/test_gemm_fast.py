"""The GEMM mapping search's fast path (gemm.py `_grid_figures` / `_grid_rows`, the candidate grid with the figures that do not
depend on the shape computed once) against the exhaustive reference search (`gemm_mapping_exhaustive`, every
candidate as one flat array): the same mapping, every figure bit-identical, and the same candidate among equal
totals (ties), on every preset, a spec with overrides, dtypes from fp32 to fp4, block scaling and stream-K."""

from __future__ import annotations

import importlib
import itertools
import random

import numpy as np
import pytest

from accelscope.hardware import list_hardware, load_hardware
from accelscope.perf.analytical.gemm import BlockScaling, gemm_mapping, gemm_mapping_exhaustive

gemm_module = importlib.import_module("accelscope.perf.analytical.gemm")  # the package exports a function gemm

# (a bytes, b bytes, c bytes, tile bytes): bf16, fp8 into bf16, fp32, W4A16, fp4, mxfp8 (scales ride along)
DTYPES = [(2, 2, 2, None), (1, 1, 2, None), (4, 4, 4, None), (2, 0.5, 2, None), (0.5, 0.5, 2, None),
          (1.03125, 1.03125, 2, 1.0)]
SCALINGS = [None, BlockScaling(128, 2.0), BlockScaling(0, 0.0, 0.0, 3.0), BlockScaling(32, 2.0, 1.0, 0.0)]
# M from one row (decode) to 64k, with edges on and off the tile sizes; N and K of LLM layers and odd ones
SHAPES = [(1, 4096, 4096), (7, 1024, 8192), (64, 28672, 8192), (128, 8192, 28672), (200, 1280, 8192),
          (1000, 3000, 500), (2048, 2048, 16384), (4096, 53248, 16384), (8192, 128256, 4096), (16384, 2048, 16384),
          (65536, 1024, 128), (96, 96, 96), (3, 5, 7), (255, 257, 4095), (1024, 128 * 132, 4096), (33, 65, 100000)]


def _chips() -> list:
    chips = [load_hardware(name) for name in list_hardware()]
    h100 = load_hardware("h100-sxm")
    chips.append(h100.with_overrides({"compute.cores": 100, "memory.smem.capacity": 100 * 1024,
                                      "memory.l2.capacity": 4 * 1024 * 1024, "memory.hbm.latency": 0.0}))
    chips.append(h100.with_overrides({"compute.cluster_cores": {2: 128, 4: 112}, "matrix.cluster_multicast": 2}))
    return chips


CHIPS = _chips()


def _peak(hw) -> float:
    dtype = next(iter(hw.matrix.peak))
    return hw.matrix_peak(dtype) * hw.matrix_efficiency(dtype)


def _cases() -> list[tuple]:
    rng = random.Random(3)
    cases = []
    for hw, (m, n, k), (a, b, c, tile) in itertools.product(CHIPS, SHAPES, DTYPES):
        scaling = rng.choice(SCALINGS)
        batch = rng.choice((1, 1, 2, 8))
        cases.append((hw, m, n, k, batch, a, b, c, tile, scaling, rng.random() < 0.2, rng.random() < 0.2))
    return cases


def test_fast_search_matches_the_exhaustive_one_bit_for_bit() -> None:
    fast_used = ties = 0
    for hw, m, n, k, batch, a, b, c, tile, scaling, shared_b, stream_k in _cases():
        args = (m, n, k, batch, a, b, c, _peak(hw), hw)
        kwargs = dict(shared_b=shared_b, scaling=scaling, stream_k=stream_k, tile_bytes=tile)
        reference, totals = gemm_module._exhaustive(*args, **kwargs)
        assert reference == gemm_mapping_exhaustive(*args, **kwargs)
        fast = gemm_mapping(*args, **kwargs)
        # dataclass equality: every field, the floats exactly (no tolerance)
        assert fast == reference, (hw.label, m, n, k, batch, a, b, c, tile, scaling, shared_b, stream_k)
        fast_used += gemm_module._grid_figures(gemm_module.GemmArgs(*args[:8], shared_b, scaling, stream_k, tile),
                                               hw) is not None
        finite = totals[np.isfinite(totals)]
        ties += int(np.count_nonzero(finite == finite.min()) > 1)
    assert fast_used > len(_cases()) // 2  # the fast path ran (systolic chips and caches-less ones fall back)
    assert ties > 20  # equal totals were met: the first of them in candidate order is chosen by both


@pytest.mark.parametrize("name", ["h100-sxm", "b200"])
def test_ties_pick_the_same_candidate(name: str) -> None:
    """Shapes whose best total several candidates share (on chips with TMA multicast a cluster size that changes
    nothing): the fast path picks the one the exhaustive search picks, the first in candidate order."""
    hw = load_hardware(name)
    seen = 0
    shapes = [(16, 128, 256), (64, 4096, 4096), (1, 4096, 4096), (128, 128, 128), (8, 8192, 8192), (256, 256, 64),
              (4096, 4096, 4096)]
    for (m, n, k), (a, b, c, tile) in itertools.product(shapes, DTYPES):
        args = (m, n, k, 1, a, b, c, _peak(hw), hw)
        reference, totals = gemm_module._exhaustive(*args, tile_bytes=tile)
        seen += int(np.count_nonzero(totals == totals.min()) > 1)
        assert gemm_mapping(*args, tile_bytes=tile) == reference
    assert seen >= len(shapes)


def test_systolic_and_fixed_kernels_take_the_exhaustive_search() -> None:
    systolic = load_hardware("systolic-128")
    args = (512, 4096, 4096, 1, 2, 2, 2, _peak(systolic), systolic)
    assert gemm_module._grid_figures(gemm_module.GemmArgs(*args[:8]), systolic) is None
    assert gemm_mapping(*args) == gemm_mapping_exhaustive(*args)


def test_batched_search_matches_one_search_each() -> None:
    """`gemm_mappings` (the GEMMs of a whole-model estimate searched together, one (GEMMs x candidates) array per
    figure) returns what `gemm_mapping` returns for each GEMM alone, every field bit for bit: GEMMs that share a
    candidate set land in one group, others (another M position, dtype, scaling, schedule; a fixed kernel, a
    degenerate shape, a systolic chip) are searched on their own. Mixed groups cover both sides of each per-GEMM
    choice (operands resident in L2 or not, every candidate valid or not); b200 with a chip scratchpad covers the
    per-GEMM memory_seconds."""
    from accelscope.perf.analytical.gemm import GemmArgs, GemmKernel, gemm_mappings

    from .test_scratchpad import b200_with_pad

    rng = random.Random(5)
    grouped = 0
    for hw in [*CHIPS, b200_with_pad()]:
        peak = _peak(hw)
        requests = [GemmArgs(m, n, k, batch, a, b, c, peak, shared_b, scaling, stream_k, tile)
                    for _, m, n, k, batch, a, b, c, tile, scaling, shared_b, stream_k in _cases() if _ is CHIPS[0]]
        rng.shuffle(requests)
        requests = requests[:40] + [  # same candidate set and figures, M from resident to streamed operands
            GemmArgs(m, 4096, 4096, 1, 2, 2, 2, peak) for m in (256, 1024, 4096, 16384, 65536)] + [
            GemmArgs(512, 512, 64, 1, 2, 2, 2, peak),  # K too short for the finest split: some candidates invalid
            GemmArgs(512, 4096, 4096, 1, 2, 2, 2, peak, kernel=GemmKernel("fixed", 128, 128, 64)),
            GemmArgs(2 ** 52, 64, 64, 1, 2, 2, 2, peak)]  # too large for the fast path: the exhaustive search
        batched = gemm_mappings(requests, hw)
        for request, mapping in zip(requests, batched, strict=True):
            # repr: every field, the floats exactly (a degenerate shape's NaN included)
            assert repr(mapping) == repr(gemm_mapping(*request[:8], hw, *request[8:])), (hw.label, request)
        figures = [gemm_module._grid_figures(r, hw) for r in requests if r.kernel is None]
        grouped += len([f for f in figures if f is not None]) - len({id(f) for f in figures if f is not None})
    assert grouped > 100  # many GEMMs shared a group with another


def test_tiles_spread_back_to_the_candidates() -> None:
    """A candidate set's tiles without their pipeline depth (`_Grid.base`, what `_grid_rows` computes most figures
    on when it searches several GEMMs) are distinct, and spread by `_Grid.spread` give back every candidate's bm,
    bn, bk, split-K and cluster; H100 bf16, the set M >= 256 keeps: 408 candidates, 96 tiles (4.25 depths each)."""
    hw = load_hardware("h100-sxm")
    chip = gemm_module._chip(hw)
    grid = gemm_module._candidate_grid(int(chip.instr[0]), int(chip.instr[1]), 2.0, float(chip.smem),
                                       float(chip.acc_limit), chip.max_cluster, chip.overlap)
    for sub in {id(g): g for g in (grid, *grid.subsets)}.values():
        columns = (sub.bm, sub.bn, sub.bk, sub.split, sub.cluster)
        for base, column in zip(sub.base, columns, strict=True):
            assert np.array_equal(base.take(sub.spread), column)
        assert len(set(zip(*(b.tolist() for b in sub.base), strict=True))) == len(sub.base[0]) < len(sub.bm)
    large = grid.kept(4096)
    assert (len(large.bm), len(large.base[0])) == (408, 96)
