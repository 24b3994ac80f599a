

def test_sim_promotes_emulated_block_scales():
    # mi300x has an FP8 rate but no MX one: each 32-K block's partial sums are scaled into the FP32 master on the
    # vector unit, issued by the MFMA warps between MMAs (synchronous), as the analytical level charges it; b200
    # applies the scales inside tcgen05's block-scaled MMA: no promotion instructions
    from accelscope.perf.sim.model import simulate

    op = acs.ops.Gemm(m=4096, n=4096, k=4096, dtype="mxfp8")
    labels = {i.label.split(" ")[0] for p in simulate(op, "mi300x").programs for i in p.instrs}
    assert "promote" in labels
    assert not any(i.label.startswith("promote") for p in simulate(op, "b200").programs for i in p.instrs)
    sim, analytical, fp8 = (acs.estimate(o, "mi300x", level=lv).seconds for o, lv in
                            ((op, "sim"), (op, "analytical"), (acs.ops.Gemm(4096, 4096, 4096, "fp8_e4m3"), "sim")))
    assert sim > 1.2 * fp8 and sim == pytest.approx(analytical, rel=0.15)
