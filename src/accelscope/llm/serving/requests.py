"""The requests a serving simulation replays: arrival times and token counts, generated or read from a trace.

Arrivals: Poisson (exponential gaps at `rate` requests/s) or gamma (gaps with coefficient of variation `cv`:
cv > 1 is burstier than Poisson, cv < 1 more regular; cv = 1 is Poisson), the two processes serving simulators
(vidur, LLMServingSim) and benchmark harnesses (vLLM's benchmark_serving.py --burstiness) draw from.
Lengths: a fixed count, `uniform:LO:HI` (integers, both ends included) or `exp:MEAN` (geometric with that mean,
at least 1). Everything is seeded: the same arguments give the same requests.

Trace files (CSV with a header, or JSON Lines) have one request per row with `arrival_s`, `input_tokens` and
`output_tokens`; rows may come in any order (they are sorted by arrival). `examples/serving/trace-synthetic.csv`
is a small example.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARRIVALS = ("poisson", "gamma")
TRACE_COLUMNS = ("arrival_s", "input_tokens", "output_tokens")
MAX_REQUESTS = 10_000_000
MAX_TOKENS = 10_000_000  # per request: far beyond any model's context


@dataclass(frozen=True)
class Requests:
    """Arrival time (s, sorted), prompt tokens and output tokens of each request."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if n == 0:
            raise ValueError("requests: none to simulate")
        if not (len(self.input_tokens) == len(self.output_tokens) == n):
            raise ValueError("requests: arrival_s, input_tokens and output_tokens must have one entry per request")

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def max_context(self) -> int:
        return int((self.input_tokens + self.output_tokens).max())

    def subset(self, indices: np.ndarray) -> Requests:
        return Requests(self.arrival_s[indices], self.input_tokens[indices], self.output_tokens[indices])


def generate(rate: float, requests: int, input_len: int | str, output_len: int | str, arrival: str = "poisson",
             cv: float = 1.0, seed: int = 0) -> Requests:
    """`requests` requests arriving at `rate` per second (float("inf"): all at time 0)."""
    if not isinstance(requests, int) or not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests: expected an integer from 1 to {MAX_REQUESTS:,} (got {requests!r})")
    if not (rate > 0):  # also rejects NaN
        raise ValueError(f"rate: expected requests per second > 0 (got {rate!r})")
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival: expected one of {', '.join(ARRIVALS)} (got {arrival!r})")
    if not (math.isfinite(cv) and cv > 0):
        raise ValueError(f"cv: the coefficient of variation of inter-arrival gaps must be > 0 (got {cv!r})")
    if not isinstance(seed, int) or seed < 0:  # numpy's default_rng: "expected non-negative integer", no name
        raise ValueError(f"seed: expected an integer >= 0 (got {seed!r})")
    rng = np.random.default_rng(seed)
    arrivals = _arrival_times(rng, rate, requests, arrival, cv)
    return Requests(arrivals, draw_lengths(rng, input_len, requests, "input_len"),
                    draw_lengths(rng, output_len, requests, "output_len"))


def _arrival_times(rng: np.random.Generator, rate: float, n: int, arrival: str, cv: float) -> np.ndarray:
    if math.isinf(rate):
        return np.zeros(n)
    if arrival == "poisson":
        gaps = rng.exponential(1.0 / rate, n)
    else:  # gamma with mean 1/rate and coefficient of variation cv: shape 1/cv^2, scale cv^2/rate
        shape = 1.0 / cv**2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
    gaps[0] = 0.0  # the first request opens the run
    return np.cumsum(gaps)


def draw_lengths(rng: np.random.Generator, spec: int | str, n: int, name: str) -> np.ndarray:
    """Token counts from a length spec: an integer, 'uniform:LO:HI' or 'exp:MEAN'."""
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        return np.full(n, _tokens(int(text), name), dtype=np.int64)
    kind, _, rest = text.partition(":")
    parts = rest.split(":")
    try:
        if kind == "uniform" and len(parts) == 2:
            low, high = _tokens(int(parts[0]), name), _tokens(int(parts[1]), name)
            if high < low:
                raise ValueError
            return rng.integers(low, high + 1, n).astype(np.int64)
        if kind == "exp" and len(parts) == 1:
            mean = _tokens(int(parts[0]), name)
            return np.minimum(rng.geometric(1.0 / mean, n), MAX_TOKENS).astype(np.int64)
    except ValueError:
        pass
    raise ValueError(f"{name}: expected a token count, 'uniform:LO:HI' (LO <= HI) or 'exp:MEAN', with counts from "
                     f"1 to {MAX_TOKENS:,} (got {text!r})")


def _tokens(value: int, name: str) -> int:
    if not 1 <= value <= MAX_TOKENS:
        raise ValueError(f"{name}: token counts must be from 1 to {MAX_TOKENS:,} (got {value})")
    return value


def load_trace(path: str | Path) -> Requests:
    """Requests from a CSV (with a header) or JSON Lines file with arrival_s, input_tokens, output_tokens."""
    file = Path(path)
    if file.is_dir():  # was "trace file not found", which sends the user looking for a missing file
        raise ValueError(f"{file}: is a folder; pass a trace file (CSV or JSONL with {', '.join(TRACE_COLUMNS)})")
    if not file.is_file():
        raise ValueError(f"{file}: trace file not found (CSV or JSONL with {', '.join(TRACE_COLUMNS)})")
    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{file}: not a text file (not UTF-8); pass a CSV or JSONL trace with "
                         f"{', '.join(TRACE_COLUMNS)}") from None
    records = _jsonl(text, file) if file.suffix in (".jsonl", ".json") else list(csv.DictReader(text.splitlines()))
    if not records:
        raise ValueError(f"{file}: no requests in the trace")
    if len(records) > MAX_REQUESTS:
        raise ValueError(f"{file}: {len(records):,} requests; at most {MAX_REQUESTS:,}")
    arrival = np.empty(len(records))
    inputs = np.empty(len(records), dtype=np.int64)
    outputs = np.empty(len(records), dtype=np.int64)
    for i, record in enumerate(records):
        row = i + 2 if file.suffix not in (".jsonl", ".json") else i + 1
        arrival[i] = _field(record, "arrival_s", float, file, row)
        inputs[i] = _field(record, "input_tokens", int, file, row)
        outputs[i] = _field(record, "output_tokens", int, file, row)
        if not (math.isfinite(arrival[i]) and arrival[i] >= 0):
            raise ValueError(f"{file}: row {row}: arrival_s must be a finite time >= 0 s (got {arrival[i]})")
        for name, value in (("input_tokens", inputs[i]), ("output_tokens", outputs[i])):
            if not 1 <= value <= MAX_TOKENS:
                raise ValueError(f"{file}: row {row}: {name} must be from 1 to {MAX_TOKENS:,} (got {value})")
    order = np.argsort(arrival, kind="stable")
    return Requests(arrival[order], inputs[order], outputs[order])


def _jsonl(text: str, file: Path) -> list[dict]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file}: line {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{file}: line {number}: expected an object with {', '.join(TRACE_COLUMNS)}")
            records.append(record)
    return records


def _field(record: dict, name: str, kind: type, file: Path, row: int) -> float:
    if name not in record or record[name] in (None, ""):
        raise ValueError(f"{file}: row {row}: missing {name} (columns: {', '.join(TRACE_COLUMNS)})")
    value = record[name]
    try:
        if kind is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{file}: row {row}: {name}: expected a {'whole number' if kind is int else 'number'} "
                         f"(got {value!r})") from None
