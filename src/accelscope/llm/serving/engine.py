"""The engine loop of one model replica: which requests run in each iteration, and when each token comes out.

`continuous` follows vLLM's scheduler (v1, chunked prefill on):
- Each iteration has a token budget (`max_batched_tokens`) and a cap on sequences (`max_seqs`). Running decodes
  are scheduled first (one token each, or draft length + 1 under speculative decoding), then requests whose
  prefill is under way, then waiting requests in arrival order (FCFS, no overtaking), each prefilling as large a
  chunk as the remaining budget allows.
- The KV cache is paged: blocks of `block_size` tokens, allocated as a sequence grows. When a decode cannot get a
  block, the most recently admitted request is preempted (vLLM's default, recompute): its blocks are freed and it
  goes back to the head of the queue, to prefill its prompt and the tokens it already produced again.
- The iteration that completes a prefill samples the request's first token (TTFT); each decode iteration adds one
  token (speculative decoding: the expected accepted tokens plus one).
`mode="prefill"` runs prefill only (a disaggregated prefill pool: a request leaves when its first token is out);
`mode="decode"` runs decodes only (the decode pool: requests arrive with their KV cache).
`static` is static batching: groups of `batch` requests in arrival order, the whole group's prompts as one
prefill, then decode steps until the group's longest output is done (finished sequences keep their slot).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .costs import IterationCosts, cell_end
from .requests import Requests

MODES = ("mixed", "prefill", "decode")


@dataclass(frozen=True)
class Limits:
    """Scheduler limits of one replica."""

    kv_blocks: int  # blocks of block_size tokens that fit in the KV-cache memory of a device
    max_batched_tokens: int = 8192  # vLLM's max_num_batched_tokens
    max_seqs: int = 256  # vLLM's max_num_seqs
    block_size: int = 16  # vLLM's default KV block size (tokens)


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: `draft_tokens` proposed per step, each accepted with probability `acceptance`
    (i.i.d., Leviathan et al. 2023), verified in one target pass of draft_tokens + 1 tokens per sequence."""

    draft_tokens: int
    acceptance: float
    draft: IterationCosts | None = None  # the proposer's costs; None = free (e.g. n-gram lookup)

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens per verification step: (1 - a^(k+1)) / (1 - a), k + 1 when every draft is accepted."""
        a, k = self.acceptance, self.draft_tokens
        return float(k + 1) if a >= 1 else (1 - a ** (k + 1)) / (1 - a)


@dataclass
class Trace:
    """What happened to each request, and the engine's state over time (one sample per iteration)."""

    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: int = 0
    iterations: int = 0
    busy_s: float = 0.0
    times: list[float] = field(default_factory=list)
    kv_used: list[float] = field(default_factory=list)  # fraction of KV blocks in use
    waiting: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    in_system: list[int] = field(default_factory=list)  # arrived and not finished
    durations: list[float] = field(default_factory=list)


class _Request:
    __slots__ = ("admitted", "computed", "generated", "index", "kv", "prompt")

    def __init__(self, index: int, prompt: int):
        self.index = index
        self.prompt = prompt  # tokens to prefill (grows by the generated tokens after a preemption)
        self.computed = 0  # prefilled tokens so far (they are in the KV cache)
        self.kv = 0.0  # tokens in the KV cache while decoding
        self.generated = 0.0  # tokens produced (fractional under speculative decoding: an expectation)
        self.admitted = 0  # admission order, for last-in-first-preempted


class _Decodes:
    """The decoding sequences as arrays, so that an iteration over hundreds of them is a few numpy operations.

    Buffers hold up to `capacity` sequences (the scheduler's max_seqs); the first `n` entries are live."""

    FIELDS = ("index", "kv", "generated", "target", "blocks", "admitted")

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self._index = np.empty(capacity, dtype=np.int64)
        self._kv = np.empty(capacity)  # tokens in the KV cache
        self._generated = np.empty(capacity)  # tokens produced
        self._target = np.empty(capacity)  # output tokens wanted
        self._blocks = np.empty(capacity, dtype=np.int64)  # KV blocks held
        self._admitted = np.empty(capacity, dtype=np.int64)

    def __len__(self) -> int:
        return self.n

    # live views (writes through to the buffers)
    index = property(lambda self: self._index[: self.n])
    kv = property(lambda self: self._kv[: self.n])
    generated = property(lambda self: self._generated[: self.n])
    target = property(lambda self: self._target[: self.n])
    blocks = property(lambda self: self._blocks[: self.n])
    admitted = property(lambda self: self._admitted[: self.n])

    def add(self, r: _Request, target: int, blocks: int) -> None:
        i = self.n
        self._index[i], self._kv[i], self._generated[i] = r.index, r.kv, r.generated
        self._target[i], self._blocks[i], self._admitted[i] = target, blocks, r.admitted
        self.n += 1

    def keep(self, mask: np.ndarray) -> None:
        """Drop the sequences where `mask` is False, keeping the order of the rest."""
        kept = int(mask.sum())
        for name in self.FIELDS:
            buffer = getattr(self, f"_{name}")
            buffer[:kept] = buffer[: self.n][mask]
        self.n = kept

    def pop(self, position: int, prompt: int) -> _Request:
        """Take one sequence out (preemption) as a request object, its blocks released by the caller."""
        r = _Request(int(self._index[position]), prompt)
        r.kv, r.generated, r.admitted = float(self._kv[position]), float(self._generated[position]), \
            int(self._admitted[position])
        self.keep(np.arange(self.n) != position)
        return r

    def growth(self, tokens: float, block_size: int) -> np.ndarray:
        """New blocks each sequence needs to add `tokens` tokens."""
        return np.maximum(np.ceil((self.kv + tokens) / block_size).astype(np.int64) - self.blocks, 0)


def continuous(requests: Requests, costs: IterationCosts, limits: Limits, mode: str = "mixed",
               speculation: Speculation | None = None, prefix_hit_rate: float = 0.0) -> Trace:
    """Simulate one replica over `requests` (arrival_s = when each reaches this replica)."""
    n = len(requests)
    arrival = requests.arrival_s
    outputs = requests.output_tokens
    trace = Trace(first_token_s=np.full(n, np.nan), finish_s=np.full(n, np.nan))
    bs = limits.block_size
    verify = 1 + (speculation.draft_tokens if speculation else 0)
    per_step = speculation.tokens_per_step if speculation else 1.0
    waiting: deque[_Request] = deque()
    prefilling: list[_Request] = []
    decodes = _Decodes(limits.max_seqs)
    blocks_of: dict[int, int] = {}  # blocks held by prefilling requests
    free = limits.kv_blocks
    admitted = next_arrival = done = 0
    t = 0.0

    def requeue(r: _Request) -> None:
        """A preempted request goes back to the head of the queue."""
        if mode != "decode":  # recompute: prefill the prompt and the tokens produced so far again
            r.prompt = int(requests.input_tokens[r.index]) + math.floor(r.generated)
            r.computed = 0
        waiting.appendleft(r)  # a decode pool swaps the cache out instead and keeps it
        trace.preemptions += 1

    while done < n:
        while next_arrival < n and arrival[next_arrival] <= t:
            r = _Request(next_arrival, int(requests.input_tokens[next_arrival]))
            if mode == "decode":  # the KV cache arrives with the request; its first token is already out
                r.computed, r.kv, r.generated = r.prompt, float(r.prompt), 1.0
            elif prefix_hit_rate:
                r.computed = min(int(prefix_hit_rate * r.prompt), r.prompt - 1)  # the last token always runs
            waiting.append(r)
            next_arrival += 1
        if not (waiting or prefilling or len(decodes)):
            t = float(arrival[next_arrival])
            continue

        # 1. decodes: make room for this step's tokens, preempting the newest requests if the cache is full
        growth = decodes.growth(per_step, bs)
        while int(growth.sum()) > free and (len(decodes) or prefilling):
            newest_prefill = max(prefilling, key=lambda q: q.admitted) if prefilling else None
            newest_decode = int(np.argmax(decodes.admitted)) if len(decodes) else -1
            if newest_prefill is not None and (newest_decode < 0
                                               or newest_prefill.admitted > decodes.admitted[newest_decode]):
                prefilling.remove(newest_prefill)
                free += blocks_of.pop(newest_prefill.index)
                requeue(newest_prefill)
            else:
                free += int(decodes.blocks[newest_decode])
                requeue(decodes.pop(newest_decode, int(requests.input_tokens[decodes.index[newest_decode]])))
            growth = decodes.growth(per_step, bs)
        decodes.blocks[:] += growth
        free -= int(growth.sum())
        budget = limits.max_batched_tokens - len(decodes) * verify

        # 2. prefill chunks: requests already prefilling, then new ones in arrival order
        chunks: list[tuple[_Request, int]] = []
        for r in prefilling:
            chunk = _fit_chunk(r, budget, free, blocks_of[r.index], bs)
            if chunk == 0:
                break
            free -= _blocks(r.computed + chunk, bs) - blocks_of[r.index]
            blocks_of[r.index] = _blocks(r.computed + chunk, bs)
            chunks.append((r, chunk))
            budget -= chunk
        while waiting and budget > 0 and len(decodes) + len(prefilling) < limits.max_seqs:
            r = waiting[0]
            if mode == "decode":
                need = _blocks(r.kv, bs)
                if need > free:
                    break
                waiting.popleft()
                free -= need
                admitted += 1
                r.admitted = admitted
                decodes.add(r, int(outputs[r.index]), need)
                continue
            chunk = _fit_chunk(r, budget, free, 0, bs)
            if chunk == 0:
                break
            waiting.popleft()
            admitted += 1
            r.admitted = admitted
            blocks_of[r.index] = _blocks(r.computed + chunk, bs)
            free -= blocks_of[r.index]
            prefilling.append(r)
            chunks.append((r, chunk))
            budget -= chunk

        if not chunks and not len(decodes):
            if next_arrival >= n and not prefilling:
                raise ValueError("serving: a waiting request can never be scheduled (its prompt needs more KV "
                                 "blocks than the cache holds); shorten it or give the replica more memory")
            t = float(arrival[next_arrival]) if next_arrival < n else t
            continue

        # 3. the iteration's time, from the real mix of decodes and chunks; a run of decode-only iterations
        #    (nothing to prefill) is priced at once, up to the next arrival, finish or block shortage
        if not chunks and not prefilling:
            steps, durations = _decode_run(decodes, costs, speculation, verify, per_step, free, bs, t,
                                           float(arrival[next_arrival]) if next_arrival < n else math.inf)
            free -= _record_decode_run(trace, decodes, limits, free, per_step, t, durations, len(waiting),
                                       next_arrival - done)
        else:
            context = float(decodes.kv.mean()) if len(decodes) else 0.0
            seconds = costs.iteration(len(decodes), context, [(c, r.computed) for r, c in chunks], verify)
            if speculation and speculation.draft and len(decodes):
                # the proposer runs draft_tokens decode steps over the same sequences first
                seconds += speculation.draft_tokens * speculation.draft.iteration(len(decodes), context, [])
            _sample(trace, t, limits, free, len(waiting), len(prefilling) + len(decodes), next_arrival - done,
                    seconds)
            steps, durations = 1, np.array([seconds])
        t += float(durations.sum())

        # 4. tokens out: decodes advance; completed prefills sample their first (or next) token
        if len(decodes):
            decodes.generated[:] += steps * per_step
            decodes.kv[:] += steps * per_step
            finished = decodes.generated >= decodes.target - 1e-9
            if finished.any():
                trace.finish_s[decodes.index[finished]] = t
                free += int(decodes.blocks[finished].sum())
                done += int(finished.sum())
                decodes.keep(~finished)
        for r, chunk in chunks:
            r.computed += chunk
            if r.computed < r.prompt:
                continue
            prefilling.remove(r)
            held = blocks_of.pop(r.index)
            r.kv = float(r.computed)
            if np.isnan(trace.first_token_s[r.index]):
                trace.first_token_s[r.index] = t
            r.generated += 1.0
            if mode == "prefill" or r.generated >= outputs[r.index]:
                trace.finish_s[r.index] = t
                free += held
                done += 1
            else:
                decodes.add(r, int(outputs[r.index]), held)
    return trace


def static(requests: Requests, costs: IterationCosts, batch: int) -> Trace:
    """Static batching: groups of `batch` requests, prefill together, decode until the longest is done."""
    n = len(requests)
    trace = Trace(first_token_s=np.full(n, np.nan), finish_s=np.full(n, np.nan))
    t = 0.0
    for start in range(0, n, batch):
        group = np.arange(start, min(start + batch, n))
        t = max(t, float(requests.arrival_s[group].max()))
        inputs = requests.input_tokens[group]
        lengths, counts = np.unique(inputs, return_counts=True)
        attention = sum(costs.prefill_attention_batch(int(count), int(length))
                        for length, count in zip(lengths, counts, strict=True))
        attention -= (len(lengths) - 1) * costs.attention_launch_s  # one varlen kernel per layer
        prefill = costs.compose(int(inputs.sum()), len(group), False, attention)
        _sample_static(trace, t, len(group), prefill)
        t += prefill
        trace.first_token_s[group] = t
        steps = int(requests.output_tokens[group].max()) - 1
        mean_input = float(inputs.mean())
        for step in range(1, steps + 1):
            seconds = costs.iteration(len(group), mean_input + step, [])
            _sample_static(trace, t, len(group), seconds)
            t += seconds
            trace.finish_s[group[requests.output_tokens[group] == step + 1]] = t
        trace.finish_s[group[requests.output_tokens[group] == 1]] = trace.first_token_s[group[0]]
    return trace


def _decode_run(decodes: _Decodes, costs: IterationCosts, speculation: Speculation | None, verify: int,
                per_step: float, free: int, block_size: int, t: float, next_arrival: float) -> tuple[int, np.ndarray]:
    """How many decode-only iterations run back to back from now, and each one's seconds: up to the iteration
    where the first sequence finishes, the last one whose blocks still fit, and the last that starts before the
    next arrival (which is admitted at the next iteration boundary)."""
    remaining = np.ceil((decodes.target - decodes.generated) / per_step - 1e-9)
    steps = max(1, int(remaining.min()))
    if int(decodes.growth(steps * per_step, block_size).sum()) > free:
        low, high = 1, steps  # this step's blocks are allocated; find the last step whose growth still fits
        while low < high:
            mid = (low + high + 1) // 2
            if int(decodes.growth(mid * per_step, block_size).sum()) <= free:
                low = mid
            else:
                high = mid - 1
        steps = low
    start = float(decodes.kv.mean())
    durations = _decode_durations(costs, len(decodes), start, per_step, steps, verify)
    if speculation and speculation.draft:
        durations = durations + speculation.draft_tokens * _decode_durations(speculation.draft, len(decodes), start,
                                                                             per_step, steps, 1)
    if t + float(durations.sum()) - float(durations[-1]) >= next_arrival:  # an arrival cuts the run short
        starts = t + np.concatenate(([0.0], np.cumsum(durations[:-1])))
        steps = max(1, int(np.searchsorted(starts, next_arrival, side="left")))
    return steps, durations[:steps]


def _decode_durations(costs: IterationCosts, sequences: int, context: float, per_step: float, steps: int,
                      verify: int) -> np.ndarray:
    """Seconds of `steps` decode iterations from mean context `context`, growing by `per_step` each. Decode time
    is piecewise linear in the context (costs.py's pricing grid), so each stretch of the run inside one grid cell is
    priced from its two ends."""
    pieces = []
    j = 0
    while j < steps:
        start = context + per_step * j
        last = min(steps - 1, j + max(0, math.floor((cell_end(start) - start) / per_step + 1e-9)))
        first_s = costs.iteration(sequences, start, [], verify)
        if last == j:
            pieces.append(np.array([first_s]))
        else:
            last_s = costs.iteration(sequences, context + per_step * last, [], verify)
            pieces.append(np.linspace(first_s, last_s, last - j + 1))
        j = last + 1
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _record_decode_run(trace: Trace, decodes: _Decodes, limits: Limits, free: int, per_step: float, t: float,
                       durations: np.ndarray, waiting: int, in_system: int) -> int:
    """Record a decode run as one sample (its state at the start, weighted by the run's length) and allocate its
    blocks; returns the blocks taken."""
    steps = len(durations)
    seconds = float(durations.sum())
    trace.iterations += steps
    trace.busy_s += seconds
    trace.times.append(t)
    trace.durations.append(seconds)
    trace.kv_used.append(1.0 - free / limits.kv_blocks)
    trace.waiting.append(waiting)
    trace.running.append(len(decodes))
    trace.in_system.append(in_system)
    extra = decodes.growth(steps * per_step, limits.block_size)
    decodes.blocks[:] += extra
    return int(extra.sum())


def _blocks(tokens: float, block_size: int) -> int:
    return math.ceil(tokens / block_size)


def _fit_chunk(r: _Request, budget: int, free: int, held: int, block_size: int) -> int:
    """The largest prefill chunk within the token budget and the free KV blocks."""
    chunk = min(r.prompt - r.computed, budget)
    if chunk <= 0:
        return 0
    room = (held + free) * block_size - r.computed  # tokens the blocks it holds and the free ones can take
    return max(0, min(chunk, room))


def _sample(trace: Trace, t: float, limits: Limits, free: int, waiting: int, running: int, in_system: int,
            seconds: float) -> None:
    trace.iterations += 1
    trace.busy_s += seconds
    trace.times.append(t)
    trace.durations.append(seconds)
    trace.kv_used.append(1.0 - free / limits.kv_blocks)
    trace.waiting.append(waiting)
    trace.running.append(running)
    trace.in_system.append(in_system)


def _sample_static(trace: Trace, t: float, running: int, seconds: float) -> None:
    trace.iterations += 1
    trace.busy_s += seconds
    trace.times.append(t)
    trace.durations.append(seconds)
    trace.running.append(running)
