"""The catalogue's own entries and order.

A method is declared with its class (:mod:`xaikit.methods`, ``class X(EngineExplainer, schema=MethodSchema(...))``);
here are only the schemas of activation extraction and of the methods the core does not implement (a library's
adapter computes them), and the order
in which the catalogue lists the methods declared before this order was frozen (later ones follow in declaration
order).
"""

from __future__ import annotations

from .params import Param, shared
from .parts import SCORES, activations_floor, sample_forwards_floor
from .schema import DocsEntry, MethodSchema

__all__ = ["ENTRIES", "CATALOGUE_ORDER"]

#: The schemas of activation extraction (of :class:`xaikit.explainer.ActivationExtractor`, below the methods) and of
#: the methods only an adapter computes.
ENTRIES: tuple[MethodSchema, ...] = (
    MethodSchema(
        "activations", "Activation (feature-map) extraction",
        "Outputs of chosen layers (default: every convolution and pooling layer) for the images.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014; "
        "Chollet, 'Deep Learning with Python', 2017, sec. 5.4.1.",
        signed=True, cost="1 forward pass", kind="activations", params=shared("layers"),
        needs=frozenset({"scores", "layers"}), floor_fn=activations_floor,
        docs=DocsEntry("Activations", "outputs of chosen layers", "1 forward", "Zeiler & Fergus 2014")),
    MethodSchema(
        "partition_shap", "Partition SHAP (shap's Partition explainer with an image masker)",
        "Owen values of a hierarchy of image regions for the target score: shap's Partition explainer splits the "
        "image recursively in halves and evaluates masked images (regions removed by blurring, inpainting or a "
        "baseline) within max_evals model calls per image; what shap users run on black-box image models.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017; Owen, 'Values of "
        "games with a priori unions', 1977; shap's PartitionExplainer (shap.readthedocs.io).",
        signed=True, cost="max_evals forward passes",
        params=(Param("max_evals", "int", 500, "Model evaluations per image and target (shap's max_evals).", low=3),
                Param("masker", "choice", "blur", "How shap's Image masker removes a region: 'blur' (cv2.blur of the "
                      "image), 'inpaint_telea' / 'inpaint_ns' (cv2.inpaint; shap casts the image to uint8, so "
                      "for [0, 255] pixels only) or 'baseline' (the baseline value).",
                      choices=("blur", "inpaint_telea", "inpaint_ns", "baseline")),
                Param("blur_size", "pair", None, "Kernel of the 'blur' masker in pixels (shap's 'blur(h,w)').",
                      nullable="a quarter of the image's height and width"),
                *shared("baseline")),
        needs=SCORES, core=False, floor_fn=sample_forwards_floor(lambda p: p["max_evals"], "masked images", extra=0),
        warmup={"max_evals": 3},
        formula="phi = Owen values of the game v(S) = S_t(x with the regions outside S masked), over shap's "
                "binary partition tree of the pixels",
        docs=DocsEntry("Partition SHAP",
                       "Owen values of a hierarchy of image regions (shap's Partition explainer; `shap` backend only)",
                       "`max_evals` forward", "Lundberg & Lee 2017")),
)

#: How :data:`xaikit.catalogue.METHODS` lists the methods it knew when they were declared here (their docs, ``xaikit
#: list``, the comparison figures); a method declared later comes after them, in declaration order.
CATALOGUE_ORDER: tuple[str, ...] = (
    "activations",
    "occlusion",
    "gradcam",
    "gradcam++",
    "vanilla_gradients",
    "gradient_x_input",
    "smoothgrad",
    "integrated_gradients",
    "expected_gradients",
    "xgradcam",
    "hirescam",
    "layercam",
    "scorecam",
    "ablationcam",
    "eigencam",
    "guided_backprop",
    "deconvnet",
    "guided_gradcam",
    "deeplift",
    "deepliftshap",
    "lrp",
    "layer_conductance",
    "vargrad",
    "squaregrad",
    "attention_rollout",
    "generic_attention",
    "rise",
    "kernel_shap",
    "lime",
    "sobol",
    "partition_shap",
)
