"""``xaikit demo``: the README's main job."""

from __future__ import annotations

from pathlib import Path

import click

from ._group import main


@main.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Folder for the pictures.")
@click.option("--images", "n_images", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Test images per model.")
@click.option("--overwrite", is_flag=True, help="Replace existing pictures.")
def demo_command(out_dir: Path, n_images: int, overwrite: bool) -> None:
    """Explain the shipped zoo models with every method and write side-by-side pictures."""
    from ..demo import run_demo
    from ._quiet import import_tensorflow_quietly

    import_tensorflow_quietly(torch_first=True)  # suites and the demo use both frameworks
    run_demo(out_dir, overwrite=overwrite, n_images=n_images, log=click.echo)
