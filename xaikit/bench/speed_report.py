"""The speed suite's report: the Markdown tables of ``speed.md`` and the one-line description of a case's
result printed as the suite runs."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .speed_measure import fmt_duration
from .speed_torch import torch_summary

__all__ = ["describe_result", "model_on_device", "summarize"]


def summarize(records: Iterable[dict[str, Any]]) -> str:
    """Markdown tables of a speed run."""
    records = list(records)
    lines = ["## Native methods against their floor", "",
             "Floor: the method's passes in a compiled loop at the best batch size (the faster of passes "
             "back to back and passes TensorFlow may overlap). One call: the same passes in one bare "
             "compiled call, for methods whose passes fit in one call: the fixed cost of a call is in it.", "",
             "| model | method | N | xaikit | floor | x floor | one call | x one call | floor = |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        if r["case"]["kind"] in ("floor", "torch_floor"):
            c, v = r["case"], r["result"]
            single_pass = v["passes"] == c["n"]  # one pass per image: the whole method is one call
            one = (f"{fmt_duration(v['one_call_seconds'])} | {v['ratio_one_call']:.2f}"
                   if "one_call_seconds" in v and single_pass else "- | -")
            lines.append(f"| {model_on_device(c)} | {c['method']} | {c['n']} | {fmt_duration(v['seconds'])} "
                         f"| {fmt_duration(v['floor_seconds'])} | {v['ratio']:.2f} | {one} | {v['floor']} "
                         f"(best batch {v['floor_batch_size']}) |")
    lines += ["", "## The same work through the libraries xaikit wraps", "",
              "| case | N | xaikit (native) | other | other / native |", "|---|---:|---:|---|---|"]
    for r in records:
        c, v = r["case"], r["result"]
        if c["kind"] in ("library", "ranked", "overhead", "torch_library", "torch_overhead"):
            native_name = "torch" if c["kind"].startswith("torch") else "tensorflow"
            native = v["seconds"][native_name]
            others = "; ".join(f"{b} {fmt_duration(t)}" for b, t in v["seconds"].items() if b != native_name)
            if "floor_seconds" in v:
                others += f"; floor {fmt_duration(v['floor_seconds'])}"
            ratios = v["ratio"] if isinstance(v["ratio"], dict) else {"tf-explain": v["ratio"]}
            ratio = "; ".join(f"{b} {x:.2f}x" for b, x in ratios.items())
            what = (f"{c['kind']}: {model_on_device(c)} {c['method']}"
                    + (f" k={c['params'].get('k')}" if c["kind"] == "ranked" else ""))
            lines.append(f"| {what} | {c['n']} | {fmt_duration(native)} | {others} | {ratio} |")
    lines += ["", "## Peak memory added by one SmoothGrad call (1 image, batch_size 16)", "",
              "| backend | n_samples | peak RSS added (MB) | GPU allocator peak (MB) |", "|---|---:|---:|---:|"]
    for r in records:
        c, v = r["case"], r["result"]
        if c["kind"] in ("memory", "torch_memory"):
            where = f"{c['backends'][0]}" + (f" ({model_on_device(c)})" if c["kind"] == "torch_memory" else "")
            gpu = v.get("gpu_mb")
            lines.append(f"| {where} | {c['params']['n_samples']} | {v['delta_mb']:.1f} | "
                         f"{'-' if gpu is None else f'{gpu:.1f}'} |")
    lines += torch_summary(records)
    if any(r["case"]["kind"] in ("engine", "bulk", "bulk_memory") for r in records):
        from .speed_distributed import distributed_summary

        lines += distributed_summary(records)
    return "\n".join(lines) + "\n"


def model_on_device(case: dict[str, Any]) -> str:
    """A stored case's model, with its device when it is not the CPU."""
    return case["model"] + (f" [{case['device']}]" if case.get("device", "cpu") != "cpu" else "")


def describe_result(result: dict[str, Any]) -> str:
    """One line on a case's result (its times against the floor or the other backends, or its memory)."""
    if "x_floor" in result:  # torch_overhead
        return "; ".join(f"{b} {fmt_duration(t)} ({result['x_floor'][b]:.2f}x floor)"
                         for b, t in result["seconds"].items())
    if "floor_seconds" in result:
        one = f", one call {result['ratio_one_call']:.2f}x" if "ratio_one_call" in result else ""
        return (f"{fmt_duration(result['seconds'])} vs floor {fmt_duration(result['floor_seconds'])} "
                f"= {result['ratio']:.2f}x{one}")
    if "delta_mb" in result:
        return f"+{result['delta_mb']:.1f} MB"
    ratio = result["ratio"]
    ratios = ratio if isinstance(ratio, dict) else {"tf-explain": ratio}
    if "threads" in result:
        return f"{result['threads']} torch thread(s): {fmt_duration(result['seconds']['torch'])}"
    return "; ".join(f"{b} {fmt_duration(t)}" for b, t in result["seconds"].items()) + " | " + \
        ", ".join(f"{b}/native {x:.2f}" for b, x in ratios.items() if not math.isnan(x))
