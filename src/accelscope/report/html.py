"""A self-contained HTML report (plotly's JavaScript inlined, so it works offline) from demo records."""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from . import figures
from .demo import DemoResults, is_preset, run_scenario
from .figures import first_dtype, first_dtype_rows
from .scenario import DEMO, Scenario

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;color:#222;
line-height:1.45;padding:0 1em} h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.conclusion{font-size:1.15em;background:#f3f7fb;border-left:4px solid #1f77b4;padding:.6em .9em;margin:.8em 0}
table{border-collapse:collapse;font-size:.92em;margin:.8em 0} th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f6f6f6} td:first-child,th:first-child{text-align:left} .meta{color:#555;font-size:.9em}
code{background:#f4f4f4;padding:.1em .3em;border-radius:3px;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em} .grid>*{min-width:0}
.table-wrap{max-width:100%;overflow-x:auto} .chipname{display:block;color:#666;font-size:.8em;font-weight:normal}
.note{color:#555;font-size:.85em} caption{text-align:left;color:#444;padding-bottom:.3em}
@media (max-width:1000px){#comparison{font-size:.8em} #comparison th,#comparison td{padding:.25em .35em}
 .grid{grid-template-columns:1fr}}
@media (max-width:700px){#comparison{font-size:.66em} #comparison th,#comparison td{padding:.2em .2em}
 #comparison .chipname{display:none}}
#comparison b{white-space:nowrap}
"""


def _fmt(value: float | None, scale: float = 1.0, digits: int = 0, suffix: str = "") -> str:
    return "—" if value is None else f"{value / scale:,.{digits}f}{suffix}"


def _section(title: str, conclusion: str, body: str, assumptions: str, command: str, level: str) -> str:
    return (f"<section><h2>{html.escape(title)}</h2><p class='conclusion'>{conclusion}</p>{body}"
            f"<p class='meta'><b>Assumptions.</b> {assumptions} <b>Model level:</b> {level}. "
            f"<b>Reproduce:</b> <code>{html.escape(command)}</code></p></section>")


def _args(options: dict[str, Any], skip: tuple[str, ...] = ("model", "dtypes", "load")) -> str:
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items() if k not in skip)


def _name(results: DemoResults, model: str) -> str:
    return results.names.get(model, model)


def _priced(results: DemoResults, key: str) -> bool:
    """Show a per-W or per-$ column only where at least two chips have the figure (else it compares nothing)."""
    first = first_dtype_rows(results)
    return sum(s[key] is not None for s in first) >= 2


def _throughput_cell(row: dict[str, Any]) -> str:
    """Tokens/s, marked when the chip has no hardware for the dtype and runs it on a wider matrix path."""
    value = _fmt(row["tokens_per_s"])
    if not row.get("emulated_on"):
        return value
    note = f"emulated: no {row['dtype']} hardware on {row['hw']}, priced on its {row['emulated_on']} path"
    return f"<span title='{html.escape(note)}'>{value}*</span>"


def _comparison(results: DemoResults) -> str:
    serving = results.scenario.get("serving") or {}
    training_args = results.scenario.get("training") or {}
    dtypes = list(dict.fromkeys(s["dtype"] for s in results.serving))
    training = {t["hw"]: t for t in results.training}
    per_w, per_usd = _priced(results, "tokens_per_s_per_w"), _priced(results, "tokens_per_s_per_kusd")
    header = "<tr><th>chip</th><th>BF16 TFLOP/s</th><th>HBM TB/s</th>"
    if dtypes:
        header += f"<th>TPOT ms ({dtypes[0]})</th>" + "".join(f"<th>tok/s {d}</th>" for d in dtypes)
        header += "<th>tok/s/dev. per W</th>" * per_w + "<th>tok/s/dev. per k$</th>" * per_usd
        header += "<th>memory headroom GB</th>"
    if training:
        header += "<th>training MFU</th><th>step s</th>"
    rows = []
    for chip in results.chips:
        cells = [f"<b>{html.escape(chip['id'])}</b><span class='chipname'>{html.escape(chip['name'])}</span>",
                 _fmt(chip["bf16"], 1e12), _fmt(chip["bandwidth"], 1e12, 2)]
        mine = {s["dtype"]: s for s in results.serving if s["hw"] == chip["id"]}
        if dtypes:  # a dtype the chip could not run shows "—" (the notes below say why)
            first = mine.get(dtypes[0], {})
            cells += [_fmt(first.get("tpot_s"), 1e-3, 2),
                      *(_throughput_cell(mine[d]) if d in mine else _fmt(None) for d in dtypes)]
            cells += [_fmt(first.get("tokens_per_s_per_w"), 1, 2)] * per_w
            cells += [_fmt(first.get("tokens_per_s_per_kusd"), 1, 2)] * per_usd
            cells.append(_fmt(first.get("headroom"), 1e9, 1))
        if training:
            t = training.get(chip["id"])
            cells += [_fmt(t["mfu"] * 100, 1, 1, " %"), _fmt(t["step_s"], 1, 2)] if t else [_fmt(None)] * 2
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = ", ".join(x for x in (
        f"serving {_name(results, serving['model'])}" if serving else "",
        f"training {_name(results, training_args['model'])}" if training_args else "") if x)
    return (f"<div class='table-wrap'><table id='comparison'><caption>{html.escape(caption)}</caption>{header}</tr>"
            f"{''.join(rows)}</table></div>{_comparison_notes(results, per_w, per_usd)}")


def _comparison_notes(results: DemoResults, per_w: bool, per_usd: bool) -> str:
    """Footnotes: emulated dtypes, and which per-W / per-$ figures are missing and why."""
    emulated: dict[tuple[str, str], list[str]] = {}
    for s in results.serving:
        if s.get("emulated_on"):
            emulated.setdefault((s["dtype"], s["emulated_on"]), []).append(s["hw"])
    notes = [f"* {dtype} is emulated on {', '.join(chips)}: no {dtype} matrix hardware, so it runs on the "
             f"{path} path (priced at that rate)." for (dtype, path), chips in emulated.items()]
    first = first_dtype_rows(results)
    for shown, key, unit, what in ((per_w, "tokens_per_s_per_w", "W", "TDP"),
                                   (per_usd, "tokens_per_s_per_kusd", "$", "unit price")):
        lacking = [s["hw"] for s in first if s[key] is None]
        if lacking:
            column = "shown where known" if shown else "no column (fewer than two chips have the figure)"
            notes.append(f"Tokens/s per {unit}: {column}; no {what} in the spec of {', '.join(lacking)}.")
    return "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes) + _failure_notes(results)


def _failure_notes(results: DemoResults) -> str:
    """What a chip could not run, each with the model's reason (DemoResults.failures)."""
    notes = [f"Not run: {f['section']}{' ' + f['what'] if f['what'] else ''} on {f['hw']}: "
             f"{f['reason'].removeprefix(f['hw'] + ': ')}" for f in results.failures]
    return "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)


def _kernel_label(kernel: dict[str, Any]) -> str:
    emulated = f" (emulated on {kernel['emulated_on']})" if kernel.get("emulated_on") else ""
    return html.escape(kernel["kernel"] + emulated)


def _kernel_table(results: DemoResults, chip: str) -> str:
    rows = "".join(
        f"<tr><td>{_kernel_label(k)}</td><td>{_fmt(k['seconds'], 1e-6, 1)}</td>"
        f"<td>{_fmt(k['achieved'], 1e12, 1)}</td><td>{_fmt(k['intensity'], 1, 1)}</td><td>{k['bound']}</td></tr>"
        for k in results.kernels if k["hw"] == chip)
    return ("<table><tr><th>kernel</th><th>µs</th><th>TFLOP/s</th><th>FLOP/B</th><th>bound</th></tr>"
            f"{rows}</table>")


def _tornado_sentence(results: DemoResults) -> str:
    """'decode is HBM-bound: +1 % bandwidth gives +0.57 % tokens/s', naming the largest lever."""
    elastic = results.elasticity
    if not elastic:
        return "No elasticities were computed."
    top = max(elastic, key=lambda k: abs(elastic[k]))
    kind = {"memory": "memory-bound", "matrix": "compute-bound", "interconnect": "communication-bound",
            "runtime": "launch-bound", "sfu": "special-function-bound", "vector": "vector-bound"}
    label = kind.get(top.split(".")[0], "limited")
    if top.startswith("memory.") and "l2" not in top:
        label = "HBM-bound"
    second = sorted((k for k in elastic if k != top), key=lambda k: -abs(elastic[k]))[:1]
    tail = f"; next comes {second[0]} ({elastic[second[0]]:+.2f} %)" if second else ""
    model = _name(results, (results.scenario.get("serving") or {}).get("model", "the model"))
    return (f"On {results.elasticity_chip}, {model} decode is {label}: +1 % {top} gives {elastic[top]:+.2f} % "
            f"tokens/s{tail}.")


def _load_conclusion(results: DemoResults) -> str:
    """The highest simulated rate each chip serves within the SLOs, and who serves most."""
    load = (results.scenario.get("serving") or {}).get("load") or {}
    chips = list(dict.fromkeys(row["hw"] for row in results.load))
    best = {chip: max((row["rate"] for row in results.load if row["hw"] == chip and row["meets"]), default=0.0)
            for chip in chips}
    top = max(best, key=lambda chip: best[chip])
    slos = f"P99 TTFT ≤ {load.get('slo_ttft_ms', 0):g} ms and P99 TPOT ≤ {load.get('slo_tpot_ms', 0):g} ms"
    if best[top] <= 0:  # no chip meets the SLOs at any simulated rate: nobody "serves the most"
        return (f"No chip meets {slos} at any simulated rate: lower the offered rates (serving.load.fractions) or "
                "relax the SLOs.")
    listed = ", ".join(f"{chip} {rate:,.2f}" for chip, rate in best.items())
    return (f"Within {slos}, the highest simulated rate met (requests/s): {html.escape(listed)}; {html.escape(top)} "
            "serves the most. Past each chip's knee, queueing makes TTFT climb while goodput falls away from the "
            "offered rate.")


def _serving_conclusions(results: DemoResults) -> dict[str, str]:
    model = _name(results, results.scenario["serving"]["model"])
    first = first_dtype(results)
    rows = {s["hw"]: s for s in results.serving if s["dtype"] == first}
    # the first listed chip that ran it (one that could not is in the notes)
    base = next(rows[c["id"]] for c in results.chips if c["id"] in rows)
    best = max(rows.values(), key=lambda s: s["tokens_per_s"])
    priced = [s for s in rows.values() if s["tokens_per_s_per_w"]]
    per_watt = max(priced, key=lambda s: s["tokens_per_s_per_w"])["hw"] if priced else "—"
    other = [s for s in results.serving if s["hw"] == base["hw"] and s["dtype"] != first]
    gain = (f"; {other[0]['dtype']} adds {100 * (other[0]['tokens_per_s'] / base['tokens_per_s'] - 1):.0f} % on "
            f"{base['hw']}") if other else ""
    bound = {hw: max(s["decode_attribution"], key=lambda r: s["decode_attribution"][r]) for hw, s in rows.items()}
    by_op = {hw: max(s["decode_by_op"], key=lambda g: s["decode_by_op"][g]) for hw, s in rows.items()}
    gemm_share = base["decode_by_op"]["GEMMs"] / max(sum(base["decode_by_op"].values()), 1e-30)
    fits = [r for r in results.tradeoff if r.get("fits")]
    fastest = max(fits, key=lambda r: r["output_tokens_per_s"]) if fits else None
    ref = next((r for r in fits if r["format"] == "bf16"), fits[0] if fits else None)
    return {
        "comparison": (f"{best['hw']} serves {model} fastest, {best['tokens_per_s']:,.0f} output tokens/s per replica "
                       f"({best['tokens_per_s'] / base['tokens_per_s']:.1f}x {base['hw']}); the most tokens per watt "
                       f"come from {per_watt}{gain}."),
        "tornado": _tornado_sentence(results),
        "breakdown": "Decode steps are limited by " + ", ".join(f"{hw}: {b}" for hw, b in bound.items())
                     + (" — where launch overhead leads, CUDA graphs and kernel fusion matter more than hardware."
                        if "launch" in bound.values() else "."),
        "by_op": (f"GEMMs (weight reads) take {100 * gemm_share:.0f} % of a decode step on {base['hw']}; the largest "
                  "op type per chip: " + ", ".join(f"{hw}: {g}" for hw, g in by_op.items()) + "."),
        "tradeoff": (f"On {results.tradeoff_chip}, {fastest['format']} serves "
                     f"{fastest['output_tokens_per_s'] / ref['output_tokens_per_s']:.1f}x the {ref['format']} "
                     f"throughput at {100 * fastest['gemm_relative_error']:.1f} % GEMM error ({ref['format']}: "
                     f"{100 * ref['gemm_relative_error']:.2f} %)." if fastest and ref else "No format fits."),
    }


def _sections(results: DemoResults) -> list[str]:
    import plotly  # noqa: F401  (fail early with a clear ImportError)

    level = results.level

    def div(fig: Any) -> str:
        return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})

    sections = []
    serving, training = results.scenario.get("serving"), results.scenario.get("training")
    given = _specs_as_given(results)
    if results.serving:
        text = _serving_conclusions(results)
        infer = f"accelscope llm infer {serving['model']} --hw CHIP {_args(serving)} --level {level}"
        sections += [
            _section("Hardware comparison", text["comparison"], _comparison(results),
                     f"{_name(results, serving['model'])} serving, {_args(serving)}, static batching; {given}.",
                     infer, level),
            _section("What limits decode (elasticities)", text["tornado"], div(figures.plotly_tornado(results)),
                     "Central differences of ±10 % of each spec field around the chip's spec.",
                     "accelscope report SCENARIO.yaml (explore.elasticities of decode tokens/s)", level),
            _section("Time breakdown by resource", text["breakdown"],
                     "<div class='grid'>" + div(figures.plotly_breakdown(results, "decode"))
                     + div(figures.plotly_breakdown(results, "prefill")) + "</div>",
                     "Each kernel's time is charged to the resource that limits it; launch = per-kernel overhead.",
                     infer + " --json", level),
            _section("Decode by op type", text["by_op"], div(figures.plotly_by_op(results)),
                     "Each op's estimated time, launch included, grouped by kind.", infer + " --json", level),
            _section("Accuracy vs speed per number format", text["tradeoff"], div(figures.plotly_tradeoff(results)),
                     "Accuracy: relative error of a GEMM with K = the model's hidden size on standard-normal operands "
                     "quantized by each format's recipe (bit-exact emulation); speed: serving with that dtype for "
                     "weights, activations and KV cache.",
                     f"accelscope numerics tradeoff {serving['model']} --hw {results.tradeoff_chip} "
                     f"--tp {serving['tp']} --batch {serving['batch']}", level),
        ]
    elif results.training:
        sections.append(_section("Hardware comparison", "Training throughput per chip.", _comparison(results),
                                 given[0].upper() + given[1:] + ".", "accelscope report SCENARIO.yaml", level))
    elif results.failures:  # no chip ran serving or training: the reasons still belong in the report
        sections.append(_section("Hardware comparison", "No chip could run the scenario's serving or training.",
                                 _failure_notes(results), given[0].upper() + given[1:] + ".",
                                 "accelscope report SCENARIO.yaml", level))
    if results.load:
        load = serving.get("load") or {}
        sections.append(_section(
            "Serving under load", _load_conclusion(results), div(figures.plotly_load(results)),
            f"{_name(results, serving['model'])}, {_args(serving, ('model', 'dtypes', 'load', 'batch'))}, "
            f"{first_dtype(results)}, vLLM-style continuous batching (chunked prefill, at most "
            f"{load.get('max_seqs')} sequences), {load.get('requests')} Poisson requests per rate; rates are "
            "fractions of the first chip's saturated throughput, the same on every chip.",
            f"accelscope llm capacity {serving['model']} --hw CHIP --tp {serving['tp']} --input-len "
            f"{serving['input_len']} --output-len {serving['output_len']} --slo-ttft {load.get('slo_ttft_ms'):g} "
            f"--slo-tpot {load.get('slo_tpot_ms'):g} --level {level}", level))
    if results.validation:
        scores = {(v["category"], v["level"]): v["mean_abs"] for v in results.validation}
        best = min((c for c, lv in scores if lv == level), key=lambda c: scores[(c, level)], default="")
        conclusion = (f"The {level} level is closest on {best} ({100 * scores[(best, level)]:.0f} % mean error) and "
                      "still optimistic elsewhere; treat absolute numbers as upper bounds until calibrated, and "
                      "compare chips with the same model." if best else "No validation rows.")
        body = ("<div class='grid'>" + div(figures.plotly_validation(results))
                + div(figures.plotly_predicted_vs_measured(results)) + "</div>")
        sections.append(_section("How far to trust these numbers", conclusion, body,
                                 "Every predictable row of the public development set (259 published measurements); "
                                 "docs/validation.md discusses each category and the calibrated, held-out errors.",
                                 "accelscope validate --dataset dev --levels roofline,analytical", level))
    if results.training:
        best_train = max(results.training, key=lambda t: t["mfu"])
        sections.append(_section(
            "Training at scale", f"{_name(results, training['model'])} reaches the highest MFU on {best_train['hw']} "
            f"({100 * best_train['mfu']:.1f} %); the breakdown shows what the rest of the step is spent on.",
            div(figures.plotly_training(results)),
            "1F1B with interleaving; DP gradient collectives overlapped with the last backward.",
            f"accelscope llm train {training['model']} --hw CHIP {_args(training)} --level {level}", level))
    if results.kernels:
        rooflines = "".join(f"<div>{div(figures.plotly_roofline(results, c))}{_kernel_table(results, c['id'])}</div>"
                            for c in results.chips)
        work = serving or training
        sections.append(_section(
            "Rooflines with the critical kernels", f"The critical kernels of {_name(results, work['model'])} "
            f"(TP{work['tp']} shapes per device) on each chip's roofs (HBM slope, BF16 and FP8 matrix, FP32 vector, "
            "and the special-function roof for attention at head dim 128), placed by arithmetic intensity and "
            "achieved FLOP/s; each kernel has its own marker, its colour is the limiting resource.", rooflines,
            "Kernels at the scenario's level (tile search for GEMMs, FlashAttention model for attention); a dtype "
            "the chip has no hardware for runs on its next wider matrix path (marked emulated).",
            "accelscope estimate gemm --m M --n N --k K --hw CHIP --level analytical --explain", level))
    return sections


def _specs_as_given(results: DemoResults) -> str:
    """What the chips' numbers are: preset datasheets, or the user's own spec files."""
    ids = [c["id"] for c in results.chips]
    files = [hw for hw in results.scenario.get("hardware", []) if not is_preset(hw)]
    if not files:
        return "presets as given (datasheet peaks, no calibration)"
    if len(files) == len(ids):
        return "each chip as its spec file gives it"
    return (f"presets as given (datasheet peaks, no calibration) and {', '.join(html.escape(f) for f in files)} "
            "as its spec file gives it")


def render(results: DemoResults, out_dir: Path, elapsed_s: float) -> Path:
    from plotly.offline import get_plotlyjs

    title = results.scenario.get("title", "accelscope report")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style><script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f"<p class='meta'>accelscope {__version__}, generated {time.strftime('%Y-%m-%d %H:%M')} in "
            f"{elapsed_s:.1f} s. Chips: {', '.join(c['id'] for c in results.chips)}. Static figures for slides: "
            f"<code>figures/*.png</code>, <code>figures/*.svg</code>; numbers: <code>results.json</code>.</p>"
            f"{''.join(_sections(results))}</body></html>")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_report(scenario: Scenario, out_dir: str | Path) -> tuple[Path, DemoResults]:
    start = time.perf_counter()
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    results = run_scenario(scenario)
    figures.write_static_figures(results, out / "figures")
    (out / "results.json").write_text(json.dumps(asdict(results), indent=2, default=float))
    return render(results, out, time.perf_counter() - start), results


def write_demo_report(out_dir: str | Path) -> tuple[Path, DemoResults]:
    return write_report(DEMO, out_dir)
