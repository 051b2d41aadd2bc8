"""``xaikit speed``: the speed suite (native methods vs their floor and vs the wrapped libraries)."""

from __future__ import annotations

from pathlib import Path

import click

from ._group import main


@main.command("speed")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("xaikit-speed"), show_default=True, help="Results store and speed.md.")
@click.option("--quick", is_flag=True, help="The 4-conv CNN only, few images (a few minutes).")
@click.option("--full", is_flag=True, help="Also N=64 on VGG16 and Xception (long).")
@click.option("--fresh", is_flag=True, help="Measure the selected cases again even if the store has them.")
@click.option("--report", "report_only", is_flag=True,
              help="Measure nothing: write speed.md from the latest record of each case in the store.")
@click.option("--only", default=None, help="Run only cases whose kind, method or model contains this text.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where models and images live. cuda: every case on the first GPU (the CPU-only cases, intra-op "
                   "threads and Ray/Zarr throughput, are left out); an error where no GPU is visible.")
def speed_command(out_dir: Path, quick: bool, full: bool, fresh: bool, only: str | None, report_only: bool,
                  device: str) -> None:
    """Time every native method against its floor and against tf-explain and shap on the same work."""
    from ..bench.devices import check_device
    from ..bench.speed import run_speed_suite
    from ._quiet import import_tensorflow_quietly

    if not report_only:
        import_tensorflow_quietly(torch_first=True)  # suites and the demo use both frameworks
        try:
            check_device(device)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    run_speed_suite(out_dir, quick=quick, full=full, fresh=fresh, only=only, log=click.echo,
                    report_only=report_only, device=device)
