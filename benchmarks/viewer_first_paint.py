"""First paint of ``xaikit view``'s grid on a store of 2,000 images, measured in Chromium (docs/viewer.md).

    python benchmarks/viewer_first_paint.py [FOLDER] [--images 2000] [--shots docs/gallery]

Writes ``FOLDER/images/*.png`` (test images of the zoo CNN) and two bulk stores of
them (Grad-CAM and gradient × input of the PyTorch twin, chunks of 64), serves them,
loads the page once (the server renders the first screen of tiles: a cold cache) and then
``--repeats`` times in fresh browser contexts (no browser cache; the server's tile cache
warm), and prints the time from navigation to the first screen of the grid painted with
every visible tile decoded (the page's ``xaikit-grid-painted`` mark). ``--shots`` saves
screenshots of the grid and of the detail view.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def make_stores(root: Path, n: int) -> list[Path]:
    import cv2

    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr
    from xaikit.models import open_model

    folder = root / "images"
    if not folder.is_dir() or len(list(folder.iterdir())) != n:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        data = zoo.load_data("shapes_cnn4", "test", n=n).images  # the zoo's test set has 2,000 (repeated beyond)
        for i in range(n):
            pixels = np.rint(data[i % len(data)][..., ::-1] * 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"shape{i:05d}.png"), pixels)
    source = {"zoo": "shapes_cnn4", "framework": "torch"}
    model = open_model(**source)
    stores = []
    for method in ("gradcam", "gradient_x_input"):
        t = time.perf_counter()
        explain_to_zarr(model, folder, root / f"{method}.zarr", method=method, chunk_size=64, source=source)
        print(f"{method}: store ready in {time.perf_counter() - t:.1f} s")
        stores.append(root / f"{method}.zarr")
    return stores


def shot(page, path: Path) -> None:
    """A screenshot as a 256-colour PNG (docs pictures stay under 300 kB)."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(page.screenshot())).convert("RGB").quantize(256).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="viewer-2000", type=Path)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shots", type=Path, default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from xaikit.viewer import ViewerApp, ViewerServer, open_source

    stores = make_stores(args.folder, args.images)
    with ViewerServer(ViewerApp(open_source(stores))) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
        times = []
        for k in range(args.repeats + 1):
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.goto(server.url)
            page.wait_for_function("document.body.dataset.gridPainted !== undefined", timeout=60_000)
            ms = int(page.evaluate("document.body.dataset.gridPainted"))
            print(f"{'cold' if k == 0 else 'warm'} server cache: grid painted {ms} ms after navigation")
            if k:
                times.append(ms)
            if args.shots and k == args.repeats:
                args.shots.mkdir(parents=True, exist_ok=True)
                page.select_option("#add-column", "1")
                page.click("#add-column-button")
                page.select_option("#sort", "confidence")
                page.wait_for_timeout(1500)
                shot(page, args.shots / "viewer_grid.png")
                page.click("#grid tbody tr:nth-child(2) img.tile >> nth=1")
                page.wait_for_timeout(1500)
                page.hover("#detail .panel[data-column='1'] img.big", position={"x": 128, "y": 100})
                page.wait_for_timeout(300)
                shot(page, args.shots / "viewer_detail.png")
            context.close()
        browser.close()
    print(f"warm cache, {args.images} images: median {statistics.median(times):.0f} ms "
          f"(min {min(times)}, max {max(times)}, {len(times)} loads)")


if __name__ == "__main__":
    main()
