"""``xaikit doctor``: which methods work on a model (every method once, small settings)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ._group import main
from ._models import load_model
from ._options import model_options
from ._setup import make_logger


@main.command("doctor")
@model_options
@click.option("--backend", default="auto", show_default=True, help="Backend id (an adapter such as captum) or auto.")
@click.option("--method", "methods", multiple=True, metavar="ID",
              help="Only these methods (repeat); default: every method the backend offers.")
@click.option("--model-output", "model_output", metavar="INDEX|KEY",
              help="Which of the model's outputs holds the class scores (models returning several).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def doctor_command(**o: Any) -> None:
    """Run every method once on a model (one random image, the fewest samples) and print, per method, ok,
    refused (with the reason) or failed (with the error), and the default CAM layer.

    \b
    Examples:
      xaikit doctor --arch resnet18 --weights none --input-size 64 64
      xaikit doctor --arch ConvNeXtTiny --weights none --input-size 64 64 --classes 10
      xaikit doctor --model net.pt --arch vit_b_16 --backend captum
    """
    from ..doctor import check_model

    log = make_logger(o["quiet"])
    loaded = load_model(model_path=o["model_path"], arch=o["arch"], zoo=o["zoo"], weights=o["weights"],
                        input_size=tuple(o["input_size"]) if o["input_size"] else None, classes=o["classes"],
                        unsafe=o["unsafe"], framework=o["framework"])
    log(f"model: {loaded.source}")
    output = o["model_output"]
    if output is not None and str(output).strip().isdigit():
        output = int(str(output).strip())
    size = tuple(o["input_size"]) if o["input_size"] else (64, 64)
    report = check_model(loaded.model, backend=o["backend"], methods=list(o["methods"]) or None,
                         image_size=size, channels=loaded.channels or 3, output=output)  # type: ignore[arg-type]
    click.echo(report.to_text())
    if o["json_path"] is not None:
        data = {"model": report.model, "backend": report.backend, "default_layer": report.default_layer,
                "image_shape": list(report.image_shape), "rows": [asdict(r) for r in report.rows]}
        from ..atomic_files import atomic_write_text

        atomic_write_text(o["json_path"], json.dumps(data, indent=2))
