"""The "Supported architectures" page: ``xaikit doctor`` (:func:`xaikit.doctor.check_model`) over many architectures.

    python docs/architectures.py run [NAME ...]   # run the doctor, one JSON record per architecture (resumable;
                                                  # names such as resnet18 or timm:resnet18 re-run those)
    python docs/architectures.py render           # write docs/architectures.md from the records

Every model has random weights (no downloads), 10 classes, and is explained on one random
image with the catalogue's warm-up settings; the records keep each method's status and
reason. Heavy by design (all methods on ~30 architectures): it belongs here, not in the tests
(``tests/test_doctor.py`` runs a fast subset).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
RECORDS = DOCS / "architectures"
PAGE = DOCS / "architectures.md"
SIZE = 64
CLASSES = 10
#: Score-CAM and Ablation-CAM run the model once per channel of the layer: skipped above this many channels (the
#: page says so) to keep the run to minutes on two cores.
MAX_CHANNELS = 512


#: Why GoogLeNet's convolutions are re-initialised (He normal) here; the page says it too.
GOOGLENET_INIT = (
    "torchvision's GoogLeNet initialisation (`init_weights=True`: every convolution N(0, 0.01), truncated) with "
    "BatchNorm at its initial statistics shrinks the activations about 10x per convolution: `inception5b` holds "
    "values near 1e-11 and each logit is its bias (about 0.02) plus about 1e-12, below float32's resolution there "
    "(2e-9), so every perturbed image scores the same, bit for bit, and occlusion, KernelSHAP, LIME and Sobol "
    "return all-zero maps (the gradient methods and CAMs still run: gradients of tiny numbers are tiny, not zero; "
    "RISE's map, the scores times the masks' coverage, then shows only the masks). Its convolutions are "
    "re-initialised He normal (fan in) here, which keeps them of order 1 (measured by "
    "`python benchmarks/random_weights.py --only googlenet`)")


def _torchvision(name: str, **kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        import torch
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, num_classes=CLASSES, **kwargs).eval()
        if name.startswith("vit"):  # torchvision zero-initialises the ViT head: every class would score 0
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        if name == "googlenet":  # see GOOGLENET_INIT
            for module in model.modules():
                if isinstance(module, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        return model
    return build


def _keras(name: str, size: int = SIZE) -> Callable[[], Any]:
    def build() -> Any:
        from xaikit.registry import get_services

        return get_services("tensorflow").architecture(name, weights="none", input_size=(size, size),
                                                       classes=CLASSES, seed=0)
    return build


def _timm(name: str, **kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        import timm
        import torch

        torch.manual_seed(0)
        return timm.create_model(name, pretrained=False, num_classes=CLASSES, **kwargs).eval()
    return build


def _hf(kind: str) -> Callable[[], Any]:
    def build() -> Any:
        import torch
        import transformers as t

        torch.manual_seed(0)
        small = {"num_labels": CLASSES}
        if kind == "vit":
            return t.ViTForImageClassification(t.ViTConfig(image_size=SIZE, patch_size=8, hidden_size=64,
                                                           num_hidden_layers=2, num_attention_heads=2,
                                                           intermediate_size=128, **small)).eval()
        if kind == "deit":
            return t.DeiTForImageClassificationWithTeacher(t.DeiTConfig(
                image_size=SIZE, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=128, **small)).eval()
        if kind == "swin":
            return t.SwinForImageClassification(t.SwinConfig(image_size=SIZE, patch_size=4, embed_dim=16,
                                                             depths=[1, 1], num_heads=[2, 2], window_size=4,
                                                             **small)).eval()
        if kind == "convnext":
            return t.ConvNextForImageClassification(t.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1],
                                                                     num_stages=2, **small)).eval()
        if kind == "resnet":
            return t.ResNetForImageClassification(t.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32],
                                                                 depths=[1, 1], **small)).eval()
        raise ValueError(kind)
    return build


#: (library, architecture as shown, builder, image size)
ARCHITECTURES: list[tuple[str, str, Callable[[], Any], int]] = [
    ("torchvision", "resnet18", _torchvision("resnet18"), SIZE),
    ("torchvision", "resnet50", _torchvision("resnet50"), SIZE),
    ("torchvision", "vgg11_bn", _torchvision("vgg11_bn"), SIZE),
    ("torchvision", "mobilenet_v3_small", _torchvision("mobilenet_v3_small"), SIZE),
    ("torchvision", "efficientnet_b0", _torchvision("efficientnet_b0"), SIZE),
    ("torchvision", "convnext_tiny", _torchvision("convnext_tiny"), SIZE),
    ("torchvision", "densenet121", _torchvision("densenet121"), SIZE),
    ("torchvision", "regnet_y_400mf", _torchvision("regnet_y_400mf"), SIZE),
    ("torchvision", "shufflenet_v2_x0_5", _torchvision("shufflenet_v2_x0_5"), SIZE),
    ("torchvision", "squeezenet1_1", _torchvision("squeezenet1_1"), SIZE),
    ("torchvision", "googlenet", _torchvision("googlenet", aux_logits=False, init_weights=True), SIZE),
    ("torchvision", "vit_b_16", _torchvision("vit_b_16", image_size=SIZE), SIZE),
    ("torchvision", "swin_t", _torchvision("swin_t"), SIZE),
    ("keras.applications", "VGG16", _keras("VGG16"), SIZE),
    ("keras.applications", "ResNet50", _keras("ResNet50"), SIZE),
    ("keras.applications", "MobileNetV2", _keras("MobileNetV2"), SIZE),
    ("keras.applications", "EfficientNetB0", _keras("EfficientNetB0"), SIZE),
    ("keras.applications", "ConvNeXtTiny", _keras("ConvNeXtTiny"), SIZE),
    ("keras.applications", "DenseNet121", _keras("DenseNet121"), SIZE),
    ("timm", "resnet18", _timm("resnet18"), SIZE),
    ("timm", "convnext_atto", _timm("convnext_atto"), SIZE),
    ("timm", "efficientnet_b0", _timm("efficientnet_b0"), SIZE),
    ("timm", "vit_tiny_patch16_224", _timm("vit_tiny_patch16_224", img_size=SIZE, patch_size=8), SIZE),
    ("timm", "deit_tiny_distilled_patch16_224", _timm("deit_tiny_distilled_patch16_224", img_size=SIZE,
                                                      patch_size=8), SIZE),
    ("timm", "swin_tiny_patch4_window7_224", _timm("swin_tiny_patch4_window7_224", img_size=SIZE, window_size=4),
     SIZE),
    ("transformers", "ViTForImageClassification", _hf("vit"), SIZE),
    ("transformers", "DeiTForImageClassificationWithTeacher", _hf("deit"), SIZE),
    ("transformers", "SwinForImageClassification", _hf("swin"), SIZE),
    ("transformers", "ConvNextForImageClassification", _hf("convnext"), SIZE),
    ("transformers", "ResNetForImageClassification", _hf("resnet"), SIZE),
]


def _record_path(library: str, name: str) -> Path:
    return RECORDS / f"{library}--{name}.json"


def run(names: list[str]) -> None:
    import torch  # before TensorFlow (see docs/backends/torch.md)

    from xaikit.doctor import check_model

    torch.set_num_threads(1)
    RECORDS.mkdir(exist_ok=True)
    for library, name, build, size in ARCHITECTURES:
        path = _record_path(library, name)
        if (names and name not in names and f"{library}:{name}" not in names) or (not names and path.exists()):
            continue
        start = time.perf_counter()
        try:
            model = build()
        except Exception as exc:  # noqa: BLE001 - recorded: a builder that fails is a finding too
            record = {"library": library, "architecture": name, "error": f"{type(exc).__name__}: {exc}"}
        else:
            report = check_model(model, image_size=(size, size), max_channels=MAX_CHANNELS)
            record = {"library": library, "architecture": name, "model": report.model,
                      "default_layer": report.default_layer,
                      "backend": report.backend, "image_shape": list(report.image_shape),
                      "rows": [asdict(r) for r in report.rows]}
        record["seconds"] = round(time.perf_counter() - start, 1)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        tmp.replace(path)
        print(f"{library} {name}: {record['seconds']} s", flush=True)


_MARK = {"ok": "✓", "refused": "–", "failed": "✗", "skipped": "·"}


def render() -> str:
    from xaikit.catalogue import ATTRIBUTION_METHODS, METHODS

    records = [json.loads(_record_path(lib, name).read_text(encoding="utf-8"))
               for lib, name, _, _ in ARCHITECTURES if _record_path(lib, name).exists()]
    methods = [m for m in ATTRIBUTION_METHODS if METHODS[m].core]
    lines = [
        "# Supported architectures",
        "",
        "Generated by `python docs/architectures.py run` then `render` (do not edit by hand): "
        "[`xaikit doctor`](cli.md) — every method run once on one random image with the fewest "
        "samples — on each architecture with random weights (no downloads), 10 classes, "
        f"{SIZE}x{SIZE} images, on its native backend (`torch` or `tensorflow`).",
        "",
        "✓ ok (a map that varies over the image) · – refused, with the reason below · ✗ failed (an error, or a "
        "map that is the same at every pixel; the reason below) · · not run here: Score-CAM and Ablation-CAM "
        f"run the model once per channel of the layer, skipped above {MAX_CHANNELS} channels (they work: see the "
        "rows with fewer channels) · n/a: the backend does not offer the method (the attention methods need the "
        "`torch` backend). The default CAM layer is the layer every CAM "
        "uses when `layer=` is not given.",
        "",
        "Notes on the rows:",
        "",
        "- Random weights as the libraries initialise them, except: torchvision's ViT head starts at zero (every "
        "class would score the same), re-initialised N(0, 0.02); " + GOOGLENET_INIT + ".",
        "- Keras MobileNetV2 with Keras' random initialisation has activations that vanish with depth (`out_relu` "
        "holds values near 1e-10 at 64, 96 and 128 px alike: not the size): with these 10 classes its bias-free "
        "head still gives logits that differ and every method runs, but with 1,000 classes the softmax "
        "probabilities are all exactly 0.001, the predicted class is class 0 by tie-breaking and its Grad-CAM "
        "happens to be negative everywhere (an all-zero map and a `DegenerateMapWarning`; MobileNetV3Large "
        "likewise). The [default layers](default-layers.md) page re-initialises both He normal "
        "(`python benchmarks/random_weights.py` measures it).",
        "- Vision transformers: the default layer is the last token layer whose patch tokens the class token "
        "reads: torchvision's `encoder_layer_11.ln_1` (its attention's projections are not modules), timm's "
        "`blocks.11.attn.qkv` and Hugging Face's `v_proj` of the last block (the projections right after that "
        "block's norm; `blocks.11.norm1` or `vit.layers.1.layernorm_before`, pytorch-grad-cam's usual choice, "
        "are one step earlier). Swin: the last norm (Hugging Face's tokens after patch merging are read on the "
        "patch grid halved). Ablation-CAM is refused on a layer holding a class or distillation token: the "
        "ablated maps go back into the model, and a map cannot carry those tokens.",
        "- Score-CAM and Ablation-CAM are skipped above 512 channels here (one pass per channel); Score-CAM at "
        "full size on `vit_b_16` (768 channels, 224 px) is measured on its [method page](methods/scorecam.md).",
        "- Guided backpropagation, the deconvnet and Guided Grad-CAM are refused where the network has no plain "
        "ReLU to modify: GELU, SiLU, Keras' `ReLU(max_value=6)` in MobileNetV2, and torchvision GoogLeNet's "
        "ReLUs, functions called inside `forward` rather than modules.",
        "",
        "Test yourself: `xaikit doctor --arch resnet18 --weights none --input-size 64 64` prints the same "
        "report for any model xaikit can load; `xaikit.doctor.check_model(model)` returns it.",
        "",
        "| library | architecture | default CAM layer | " + " | ".join(f"`{m}`" for m in methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    notes: dict[tuple[str, str, str], list[str]] = {}  # (status, method, reason) -> architectures
    for rec in records:
        if "error" in rec:
            lines.append(f"| {rec['library']} | {rec['architecture']} | could not be built: {rec['error']} |"
                         + " |" * len(methods))
            continue
        by_method = {r["method"]: r for r in rec["rows"]}
        cells = []
        for m in methods:
            row = by_method.get(m)
            cells.append("n/a" if row is None else _MARK[row["status"]])
            if row is not None and row["status"] not in ("ok", "skipped"):
                reason = re.sub(r"model '[^']*'", "the model", row["detail"].replace("|", "/"))
                notes.setdefault((row["status"], m, reason), []).append(f"{rec['library']} {rec['architecture']}")
        layer = rec["default_layer"].replace("|", "/")
        lines.append(f"| {rec['library']} | {rec['architecture']} | `{layer}` | " + " | ".join(cells) + " |")
    text = [f"- `{m}` {status} on {', '.join(archs)}: {reason}" for (status, m, reason), archs in notes.items()]
    lines += ["", "## Refusals and failures", "", *(text or ["None."]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "render"
    if command == "run":
        run(sys.argv[2:])
    elif command == "render":
        PAGE.write_text(render(), encoding="utf-8")
        print(f"wrote {PAGE}")
    else:
        raise SystemExit(__doc__)
