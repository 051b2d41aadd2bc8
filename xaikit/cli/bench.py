"""``xaikit bench``: run a benchmark suite and write its reports.

\b
    xaikit bench                          # the zoo suite (every model x method x backend), offline
    xaikit bench --quick                  # a smoke run, under a minute
    xaikit bench benchmarks/seed004.toml  # a suite file
    xaikit bench --model my.keras --images dir/ --preprocess scale255 [--masks masks/]

Results go to a store in the output folder; running the same command again reuses
every finished cell (an interrupted run resumes where it stopped).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..validation import MAX_INT, SEED_LIMIT
from ._group import EXIT_INTERRUPTED, main


def engine_options(f: Any) -> Any:
    """``--engine local|ray``, ``--address``, ``--workers``: what computes the cells (or chunks)."""
    for decorator in reversed([
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this process, nothing to set up; ray: Ray workers (pip install "
                          "'xaikit[distributed]'), on this machine or a cluster (--address)."),
        click.option("--address", metavar="ADDR",
                     help="Ray cluster to join: auto (the cluster `ray start --head` started), host:6379 or "
                          "ray://host:10001. Default: start Ray on this machine."),
        click.option("--workers", type=click.IntRange(min=1), metavar="N",
                     help="Ray workers (default: the cluster's CPUs)."),
    ]):
        f = decorator(f)
    return f


def _suite(config: str | None, quick: bool) -> Any:
    from ..bench.config import builtin_suite, builtin_suites, load_config

    if config is not None and quick:
        raise click.UsageError("give a suite (CONFIG) or --quick, not both; --quick is the built-in 'quick' suite")
    if config is None:
        return builtin_suite("quick" if quick else "zoo")
    if not config.lower().endswith(".toml") and config in builtin_suites():
        return builtin_suite(config)
    return load_config(config)


def _model_override(o: dict[str, Any]) -> Any:
    from ..bench.config import ConfigError, ModelEntry

    given = [k for k in ("model", "zoo", "arch") if o.get(k)]
    if len(given) > 1:
        raise InputError(f"name one model: --model, --zoo or --arch (got {', '.join('--' + g for g in given)})")
    if o.get("framework") and not (o.get("zoo") or o.get("arch")):
        raise InputError("--framework chooses the framework of --zoo (torch: the PyTorch twins) or of --arch; give "
                         "one of them (a model file's framework is its own)")
    image_opts = [k for k in ("images", "masks", "preprocess", "labels") if o.get(k)]
    if not given:
        if image_opts:
            raise InputError(f"--{image_opts[0]} describes the images of --model (or --arch); give --model FILE too")
        return None
    size = tuple(o["input_size"]) if o.get("input_size") else None
    if o.get("model"):
        path = Path(o["model"])
        if not o.get("images"):
            raise InputError("--model needs --images FOLDER: the images to explain (preprocessed with --preprocess)")
        if not path.exists():
            raise InputError(f"--model {path}: no such file or folder")
        return ModelEntry(id=path.stem or "model", path=str(path), images=o["images"], masks=o.get("masks"),
                          preprocess=o.get("preprocess"), labels=o.get("labels"), input_size=size,
                          unsafe=o.get("unsafe", False))
    if o.get("zoo"):
        from ..zoo import ZOO

        if o["zoo"] not in ZOO:
            raise ConfigError(f"unknown zoo model {o['zoo']!r}; zoo models: {', '.join(ZOO)}")
        framework = o.get("framework")
        return ModelEntry(id=o["zoo"] + (f"-{framework}" if framework and framework != "keras" else ""),
                          zoo=o["zoo"], images=o.get("images"), masks=o.get("masks"),
                          preprocess=o.get("preprocess"), framework=framework)
    weights = o.get("weights") or "none"
    return ModelEntry(id=o["arch"], arch=o["arch"], weights=weights, input_size=size, images=o.get("images"),
                      masks=o.get("masks"), preprocess=o.get("preprocess"), labels=o.get("labels"),
                      quality=weights.lower() != "none", framework=o.get("framework"))


def _import_frameworks(cfg: Any, log: Any) -> None:
    """Import TensorFlow (its start-up lines muted) only when a model of the suite needs it, torch first when both
    may run, and say so before the seconds it takes."""
    from ..bench.plan import entry_framework
    from ._quiet import import_tensorflow_quietly

    frameworks = {entry_framework(entry) for entry in cfg.models}
    if frameworks & {"keras", None} and "tensorflow" not in sys.modules:
        both = bool(frameworks & {"torch", None})
        log(f"loading {'PyTorch and ' if both else ''}TensorFlow ...")
        import_tensorflow_quietly(torch_first=both)


def _filters(cfg: Any, methods: tuple[str, ...], backends: tuple[str, ...]) -> Any:
    from ..bench.config import ConfigError

    entries = list(cfg.methods)
    if methods:
        wanted = {m.strip() for item in methods for m in item.split(",") if m.strip()}
        known = {e.method for e in entries} | {e.label for e in entries}
        unknown = sorted(wanted - known)
        if unknown:
            raise ConfigError(f"--method {', '.join(unknown)}: not in suite {cfg.name!r}; its methods: "
                              f"{', '.join(sorted(known))}")
        entries = [e for e in entries if e.method in wanted or e.label in wanted]
    if backends:
        from ..registry import discover_backends

        wanted_b = {b.strip() for item in backends for b in item.split(",") if b.strip()}
        unknown = sorted(wanted_b - set(discover_backends()))
        if unknown:
            raise ConfigError(f"--backend {', '.join(unknown)}: unknown; registered backends: "
                              f"{', '.join(discover_backends())}")
        kept = []
        for e in entries:
            pool = e.backends if e.backends is not None else tuple(
                b for b, spec in discover_backends().items() if e.method in spec.offered())
            chosen = tuple(b for b in pool if b in wanted_b)
            if chosen:
                kept.append(dataclasses.replace(
                    e, backends=chosen, backend_params={k: v for k, v in e.backend_params.items() if k in chosen}))
        entries = kept
    if not entries:
        raise ConfigError("the --method/--backend filters leave no method to run")
    return dataclasses.replace(cfg, methods=tuple(entries))


def _entry_classes(entry: Any) -> list[type]:
    """The explainer classes of a suite entry: its backends, or every installed one implementing it."""
    from ..registry import list_methods
    from ._params import method_classes

    installed = next((row.backends for row in list_methods() if row.id == entry.method), ())
    backends = entry.backends if entry.backends is not None else installed
    return method_classes([(entry.method, b) for b in backends if b in installed])


def _params(cfg: Any, items: tuple[str, ...]) -> Any:
    from ..bench.config import ConfigError, toml_param_value
    from ._params import bool_param_names, check_param_items, parse_param_value, split_param_item

    syntax = "METHOD.KEY=VALUE (e.g. gradcam.layer=conv2d_3)"
    check_param_items([split_param_item(item, syntax)[0] for item in items])
    entries = list(cfg.methods)
    for item in items:
        key, value = split_param_item(item, syntax)
        scope, dot, name = key.rpartition(".")
        if not dot or not scope or not name:
            raise InputError(f"--param takes {syntax}; got {item!r}")
        hits = [i for i, e in enumerate(entries) if scope in (e.method, e.label)]
        if not hits:
            raise ConfigError(f"--param {item}: no method {scope!r} in the suite; methods: "
                              f"{', '.join(sorted({e.label for e in entries}))}")
        bools = bool_param_names(cls for i in hits for cls in _entry_classes(entries[i]))
        parsed = toml_param_value(parse_param_value(name, value, bools), f"--param {item}", "command line")
        for i in hits:
            entries[i] = dataclasses.replace(entries[i], params={**entries[i].params, name: parsed})
    return dataclasses.replace(cfg, methods=tuple(entries))


@main.command("bench")
@click.argument("config", required=False, metavar="[CONFIG]")
@click.option("--quick", is_flag=True, help="The built-in smoke suite: one model, two methods, few images (< 1 min).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (results store + reports). Default: xaikit-bench-<suite>[-<model>]. Running "
                   "again with the same folder reuses finished cells.")
@click.option("-m", "--model", metavar="FILE", help="Benchmark your model (.keras, .h5, SavedModel folder) instead "
                                                    "of the suite's models; needs --images.")
@click.option("--zoo", metavar="NAME", help="Benchmark one zoo model instead of the suite's models.")
@click.option("--framework", type=click.Choice(["keras", "torch"]),
              help="Framework of --zoo (torch: the PyTorch twins) or of an --arch both frameworks know.")
@click.option("--arch", metavar="NAME", help="A keras.applications architecture (with --weights, --input-size); "
                                             "random weights are benchmarked for speed only.")
@click.option("--weights", metavar="none|FILE", help="Weights of --arch (default none: random, speed only).")
@click.option("--input-size", type=click.IntRange(min=1), nargs=2, metavar="H W",
              help="Input size of --arch, or of a model that accepts any size.")
@click.option("-i", "--images", metavar="FOLDER", help="Images of --model: a seeded sample of --n-images is drawn.")
@click.option("--masks", metavar="FOLDER", help="Ground-truth masks (white = object), matched to images by file "
                                                "name; enables the pointing games.")
@click.option("-p", "--preprocess", metavar="SCHEME", help="Pixels -> model input for --images: none, scale255, "
                                                           "caffe, torch, tf or a keras.applications family.")
@click.option("--labels", "labels_path", metavar="FILE", help="Class names (.txt or .json) for the figures.")
@click.option("--unsafe", is_flag=True, help="Trust the code the models carry (Lambda layers, SavedModel folders, "
                                            "TorchScript, pickles): a suite's unsafe = true only asks for it.")
@click.option("--n-images", type=click.IntRange(min=1), help="Images per model (overrides the suite).")
@click.option("--seed", type=click.IntRange(0, SEED_LIMIT - 1),
              help="Seed of the sample, random methods and randomisation (overrides the suite).")
@click.option("--batch-size", type=click.IntRange(1, MAX_INT),
              help="Largest batch sent to the model (overrides the suite).")
@click.option("--method", "methods", multiple=True, metavar="NAME", help="Only these methods (id or label; "
                                                                         "repeatable or comma-separated).")
@click.option("--backend", "backends", multiple=True, metavar="NAME", help="Only these backends (repeatable).")
@click.option("--param", "params", multiple=True, metavar="METHOD.KEY=VALUE",
              help="Set a method parameter, e.g. gradcam.layer=conv5_block3_out or smoothgrad.n_samples=20 "
                   "(JSON, else text; a bool parameter takes true/false, yes/no or 1/0).")
@click.option("--fresh", is_flag=True, help="Recompute every cell (new records are appended to the store).")
@click.option("--no-figures", is_flag=True, help="Write the tables only (faster).")
@click.option("--dry-run", is_flag=True, help="Print the models and method/backend pairs, run nothing.")
@click.option("--strict", is_flag=True, help="Exit with code 1 if any cell failed.")
@engine_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes on stderr.")
def bench_command(**o: Any) -> None:
    """Benchmark explanation methods and their implementations: quality, sanity, agreement, speed.

    CONFIG is a suite file (TOML) or a built-in suite name (zoo, quick); default: zoo,
    every zoo model with every method and every installed backend. Writes
    report.md, report.html (self-contained), summary.json and figures/ into --out,
    and prints the summary table.

    \b
    Examples:
      xaikit bench
      xaikit bench --quick
      xaikit bench benchmarks/seed004.toml -o out/seed004
      xaikit bench --model my.keras --images photos/ --preprocess scale255
      xaikit bench --zoo digits_bn --method gradcam,occlusion --n-images 8
      xaikit bench --engine ray                         # cells on Ray workers (this machine)
      xaikit bench --engine ray --address auto          # ... on the cluster of `ray start --head`
    """
    import dataclasses as dc

    from ..bench.config import ConfigError
    from ..bench.report import markdown_table, summary_rows, write_reports
    from ..bench.runner import plan_pairs, run_suite

    def log(message: str) -> None:
        if not o["quiet"]:
            click.echo(message, err=True)

    cfg = _suite(o["config"], o["quick"])
    override = _model_override({**o, "labels": o["labels_path"]})
    if override is not None:
        same = [m for m in cfg.models if override.zoo is not None and m.zoo == override.zoo
                and (m.framework or "keras") == (override.framework or "keras")]
        if same:  # a zoo model of the suite: keep its settings (layers...), with the given image options
            keep = {k: getattr(override, k) for k in ("images", "masks", "preprocess") if getattr(override, k)}
            cfg = dc.replace(cfg, models=(dc.replace(same[0], **keep),))
        else:
            cfg = cfg.with_models([override])
    changes = {k: o[k] for k in ("n_images", "seed", "batch_size") if o[k] is not None}
    if changes:
        cfg = dc.replace(cfg, **changes)
    if o["methods"] or o["backends"]:
        cfg = _filters(cfg, o["methods"], o["backends"])
    if o["params"]:
        cfg = _params(cfg, o["params"])
    out = o["out"] or Path(f"xaikit-bench-{cfg.name}" + (f"-{override.id}" if override is not None else ""))
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    _import_frameworks(cfg, log)
    if o["dry_run"]:
        for entry in cfg.models:
            notes: list[str] = []
            pairs = plan_pairs(cfg, entry, notes)
            click.echo(f"{entry.id} ({entry.source}){'' if entry.quality else ' [speed only]'}:")
            for p in pairs:
                shown = {k: v for k, v in p.params.items() if k not in ("batch_size",)}
                click.echo(f"  {p.row:<40} {json.dumps(shown, default=str)}")
            for n in notes:
                click.echo(f"  note: {n}")
        return
    log(f"suite {cfg.name!r} ({cfg.source}) -> {out}/")
    progress = not o["quiet"] and sys.stderr.isatty()
    try:
        results = run_suite(cfg, out, log=log, progress=progress, reuse=not o["fresh"], engine=o["engine"],
                            address=o["address"], workers=o["workers"], unsafe=o["unsafe"])
    except KeyboardInterrupt:
        from ..execution import ResultStore

        n = len(ResultStore(out))
        click.echo(f"\ninterrupted: {n} finished cell(s) are safe in {out / 'results.jsonl'}; run the same command "
                   "again to resume.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError:
        raise
    written = write_reports(results, out, figures=not o["no_figures"])
    click.echo(markdown_table(summary_rows(results)))
    log(f"\n{results.computed} cell(s) computed, {results.reused} reused from earlier runs, "
        f"{len(results.errors)} failed, {results.seconds:.0f} s")
    for e in results.errors:
        where = " · ".join(str(e[k]) for k in ("model", "label", "backend", "kind", "metric", "cell") if e.get(k))
        log(f"failed: {where}: {e['error']}")
    log(f"wrote {out / 'report.html'}, {out / 'report.md'}, {out / 'summary.json'}"
        + (f" and {sum(1 for k in written if k.endswith('.png'))} figures in {out / 'figures'}"
           if not o["no_figures"] else ""))
    if o["strict"] and results.errors:
        sys.exit(1)
