"""``xaikit view``: the explorer in the browser (a local server, or static pages with ``--export``)."""

from __future__ import annotations

from pathlib import Path

import click

from ._group import main


@main.command("view")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the address only; do not open a browser.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write static pages into this folder instead of serving.")
@click.option("--limit", type=click.IntRange(1), default=500, show_default=True,
              help="--export: images per column written (tiles and images), from the first.")
@click.option("--detail-limit", type=click.IntRange(0), default=100, show_default=True,
              help="--export: images per column whose raw values (cursor readout, histogram) are written.")
@click.option("--overwrite", is_flag=True, help="--export: replace a non-empty folder.")
def view_command(paths: tuple[Path, ...], port: int, no_browser: bool, export_dir: Path | None, limit: int,
                 detail_limit: int, overwrite: bool) -> None:
    """Browse bulk stores (several stores of the same images: one column each) or a bench folder.

    Serves a page on 127.0.0.1 (Ctrl-C stops it). PATHS: maps.zarr stores written by
    `xaikit explain --out maps.zarr`, or one `xaikit bench` results folder.
    """
    from ..viewer import ViewerApp, export_site, open_source, serve

    source = open_source(paths)
    if export_dir is not None:
        done = export_site(source, export_dir, limit=limit, detail_limit=detail_limit, overwrite=overwrite)
        click.echo(f"wrote {done.files} files ({done.bytes / 2**20:.1f} MB) into {done.path}: {done.images} of "
                   f"{done.total_images} images per column, raw values for the first {done.detail_images}; open "
                   f"{done.path / 'index.html'}")
        return
    serve(ViewerApp(source), port=port, open_browser=not no_browser, log=click.echo)
