"""The stage-graph builders' pieces (workload/llm_graph.GraphParts) memoized inside a memo scope (perf/memo.py).

A planner prices thousands of layouts of one model: a decoder layer kind's ops (`kind_nodes`, `kind_merged`) are the
same under every pipeline stage and depth, data-parallel width and recompute policy at one TP and precision, and the
first and last stages' own ops under every depth. With `MEMO_PARTS` they are built once per `shared_estimates()`
scope; outside a scope every call builds them (the workload layer itself stays free of the perf layer's memo).
"""

from __future__ import annotations

from ..perf.memo import memoized
from ..workload.llm_graph import (
    GraphParts,
    first_stage_ops,
    kind_merged,
    kind_nodes,
    last_stage_ops,
    pp_send_op,
)

MEMO_PARTS = GraphParts(kind_nodes=memoized(kind_nodes), first_ops=memoized(first_stage_ops),
                        last_ops=memoized(last_stage_ops), pp_send=memoized(pp_send_op),
                        kind_merged=memoized(kind_merged))
