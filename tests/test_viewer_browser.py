"""``xaikit view`` in a real browser: Debian's Chromium driven by Playwright over two bulk stores of the zoo CNN.

The grid loads, a method column is added, sorting changes the order, the detail view shows the
map of the clicked image as xaikit.viz draws it (pixel for pixel) with its raw values under the
cursor, an image file named like an HTML tag shows as text, and the page asks nothing of any
address but the viewer's own. Playwright never downloads a browser here: it launches the system
Chromium (``apt-get install chromium``; ``.ci/run`` installs it when missing).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3")
pytest.importorskip("torch")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is not installed (pip install 'xaikit[dev]')")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip("no Chromium to drive: install Debian's browser with `apt-get install -y chromium` (as root; "
                ".ci/run does it when apt-get is there)", allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
N = 6
HOSTILE = "<img src=x onerror=window.__xss=1>.png"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Grad-CAM and vanilla-gradient stores of six test images of the zoo CNN (PyTorch twin), one badly named."""
    import cv2

    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr
    from xaikit.models import open_model

    root = tmp_path_factory.mktemp("viewer_browser")
    (root / "images").mkdir()
    for i, image in enumerate(zoo.load_data("shapes_cnn4", "test", n=N).images):
        name = HOSTILE if i == 4 else f"img{i}.png"
        cv2.imwrite(str(root / "images" / name), np.rint(image[..., ::-1] * 255).astype(np.uint8))
    source = {"zoo": "shapes_cnn4", "framework": "torch"}
    model = open_model(**source)  # opened once for both stores
    for method in ("gradcam", "vanilla_gradients"):
        explain_to_zarr(model, root / "images", root / f"{method}.zarr", method=method, chunk_size=4, source=source)
    import zarr  # a per-image metric, as a store may carry one

    metrics = zarr.open_group(str(root / "gradcam.zarr"), mode="a").create_group("metrics")
    metrics.create_array("score", shape=(N,), dtype="float64")[:] = [0.5, 0.1, np.nan, 0.9, 0.3, 0.7]
    return root


@pytest.fixture(scope="module")
def viewer(stores):
    from xaikit.viewer import ViewerApp, ViewerServer, open_source

    with ViewerServer(ViewerApp(open_source([stores / "gradcam.zarr", stores / "vanilla_gradients.zarr"]))) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, viewer):
    """A fresh page that records (and refuses) every request to another address than the viewer's.

    The server's Content-Security-Policy is bypassed here: Playwright evaluates its probes as strings
    (which the policy forbids), and the policy would also stop an injected inline handler, hiding a
    missing escape, which the hostile-name test is there to catch (test_viewer.py checks the header).
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(viewer.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(viewer.url)
    page.wait_for_function("document.body.dataset.gridPainted !== undefined", timeout=20_000)
    yield page
    assert errors == [], errors
    assert outside == [], f"the page asked for addresses outside the viewer: {outside}"
    context.close()


def _rows(page) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#grid tbody tr", "rows => rows.map(r => r.dataset.image)")]


def _tiles_loaded(page) -> None:
    page.wait_for_function("Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && "
                           "i.naturalWidth > 0)")


def test_grid_loads_a_column_is_added_and_sorting_reorders(page, stores):
    from xaikit.bulk import open_zarr

    print(f"first paint of the grid: {page.evaluate('document.body.dataset.gridPainted')} ms after navigation")
    assert _rows(page) == list(range(N))
    assert page.eval_on_selector_all("#grid thead th[data-column]", "t => t.map(h => h.textContent)") == [
        "gradcam (torch)"]
    page.select_option("#add-column", "1")
    page.click("#add-column-button")
    assert page.eval_on_selector_all("#grid thead th[data-column]", "t => t.map(h => h.textContent)") == [
        "gradcam (torch)", "vanilla_gradients (torch)"]
    assert page.locator("#grid tbody td[data-column='1'] img").count() == N
    _tiles_loaded(page)

    predictions = open_zarr(stores / "gradcam.zarr")["predictions"][:].tolist()
    by_prediction = sorted(range(N), key=lambda i: (predictions[i], i))
    assert by_prediction != list(range(N))  # else sorting could not show
    page.select_option("#sort", "prediction")
    assert _rows(page) == by_prediction
    page.click("#sort-direction")
    assert _rows(page) == sorted(range(N), key=lambda i: (-predictions[i], i))
    page.select_option("#sort", "metric:gradcam (torch): score")  # descending still: missing values last
    assert _rows(page) == [3, 5, 0, 4, 1, 2]
    page.select_option("#filter-metric", "gradcam (torch): score")
    page.fill("#filter-metric-min", "0.4")
    page.dispatch_event("#filter-metric-min", "change")
    assert _rows(page) == [3, 5, 0]
    page.select_option("#filter-metric", "")
    page.select_option("#filter-prediction", str(predictions[0]))
    assert sorted(_rows(page)) == [i for i in range(N) if predictions[i] == predictions[0]]


def test_the_detail_view_shows_the_clicked_images_maps_as_xaikit_viz_draws_them(page, stores):
    from xaikit.bulk import open_zarr
    from xaikit.io import load_images
    from xaikit.viz import overlay

    k = 3
    page.click(f"#grid tr[data-image='{k}'] img.tile >> nth=1")
    page.wait_for_selector("#detail-card")
    assert page.get_attribute("#detail-card", "data-image") == str(k)
    big = "#detail .panel[data-column='1'] img.big"
    page.wait_for_function(f"(() => {{ const i = document.querySelector(\"{big}\"); "
                           "return i && i.complete && i.naturalWidth > 0; })()")
    shown = np.asarray(page.evaluate(f"""() => {{
        const img = document.querySelector("{big}");
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        return Array.from(g.getImageData(0, 0, c.width, c.height).data);
    }}"""), np.uint8).reshape(64, 64, 4)[..., :3]
    maps = open_zarr(stores / "vanilla_gradients.zarr")["maps"]
    files = sorted((stores / "images").iterdir())
    images = load_images(files, size=(64, 64))[0]

    def drawn(i):  # vanilla gradients: the catalogue's magnitude view, |a| over the image
        return overlay(images[i:i + 1], maps[i:i + 1], normalize="abs", colormap="jet", alpha=0.4)[0]

    assert np.abs(shown.astype(int) - drawn(k)).max() <= 1
    assert np.abs(shown.astype(int) - drawn(k + 1)).max() > 20  # the clicked image's map, not a neighbour's

    x, y = 40, 21  # the raw value under the cursor
    page.hover(big, position={"x": (x + 0.5) * 4, "y": (y + 0.5) * 4})
    page.wait_for_function(f"document.querySelector(\"#detail .panel[data-column='1'] .readout\").textContent"
                           f".startsWith('x {x}, y {y}: ')")
    text = page.text_content("#detail .panel[data-column='1'] .readout")
    assert float(text.split(": ")[1]) == pytest.approx(float(maps[k][y, x]), rel=1e-3, abs=1e-6)
    assert page.locator("#detail .panel[data-column='1'] svg.hist rect").count() == 48
    assert page.locator("#detail .panel[data-column]").count() == 2  # every method, side by side


def test_a_hostile_image_name_is_shown_as_text(page, stores):
    i = sorted(p.name for p in (stores / "images").iterdir()).index(HOSTILE)
    cell = page.text_content(f"#grid tr[data-image='{i}'] td.name")
    assert cell == str(stores / "images" / HOSTILE)
    page.click(f"#grid tr[data-image='{i}'] img.tile >> nth=0")
    assert page.text_content("#detail-name") == str(stores / "images" / HOSTILE)
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert page.evaluate("window.__xss") is None


def test_a_bench_folder_sorts_its_table_and_opens_a_rows_maps(browser, tmp_path):
    """A bench folder (a results store with two cells' maps, summary.json): header click sorts, maps one click away."""
    from xaikit.bench import ResultStore
    from xaikit.viewer import ViewerApp, ViewerServer, open_source

    rng = np.random.default_rng(0)
    store = ResultStore(tmp_path)
    table, rows = [], []
    for k, (label, time, deletion) in enumerate([("gradcam", 0.002, 0.3), ("occlusion", 0.05, 0.1)]):
        key = f"{k}" * 24
        store.put(key, {"result": {}}, {"attributions": rng.normal(size=(3, 8, 8)).astype(np.float32),
                                        "targets": np.asarray([0, 1, 2])})
        table.append({"model": "m", "label": label, "method": label, "backend": "torch", "control": False,
                      "time": time, "deletion": deletion, "insertion": 0.8})
        rows.append({"label": label, "method": label, "backend": "torch", "explain_key": key})
    (tmp_path / "summary.json").write_text(json.dumps({"suite": "tiny", "models": [{"id": "m", "rows": rows}],
                                                      "table": table}))
    with ViewerServer(ViewerApp(open_source([tmp_path]))) as server:
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.goto(server.url)

        def labels():
            return page.eval_on_selector_all("#report tbody tr", "rows => rows.map(r => r.children[1].textContent)")

        assert labels() == ["gradcam", "occlusion"]
        page.click("#report th[data-key='deletion']")
        assert labels() == ["occlusion", "gradcam"]
        page.click("#report th[data-key='deletion']")
        assert labels() == ["gradcam", "occlusion"]
        page.click("#scatter circle[data-label='m · occlusion (torch)']")
        assert page.get_attribute("#maps", "data-column") == "1"
        assert page.locator("#maps img.tile").count() == 3
        page.click("#maps img.tile >> nth=2")
        assert page.locator("#detail .panel[data-column]").count() == 2  # both rows of the model, side by side
        context.close()
