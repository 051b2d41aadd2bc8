"""Black-box backend for xaikit: any callable ``f(images) -> (N, K)`` scores, and ONNX files.

The backend is an engine with the ``scores`` capability (:mod:`.engine`) and model
services (:mod:`.services`); it offers every method that needs only forward passes
(occlusion, and every perturbation method the catalogue gains). Importing this package
imports no framework; :class:`OnnxModel` imports onnxruntime when it is built.

>>> from xaikit_callable import BlackBox, OnnxModel                     # doctest: +SKIP
>>> xaikit.explain(BlackBox(f, layout="NCHW", output="probability"), images, method="occlusion")  # doctest: +SKIP
>>> xaikit.explain(OnnxModel("model.onnx"), images, method="occlusion")  # doctest: +SKIP
"""

from xaikit.registry import ANY_MODEL, BackendSpec

from .blackbox import BlackBox
from .onnx_model import OnnxModel

_M = "xaikit_callable"

BACKEND = BackendSpec(
    name="callable",
    description="Black-box models: any function f(images) -> (N, K) scores, ONNX files (onnxruntime)",
    engine=f"{_M}.engine:engine_for",
    capabilities=("scores",),
    services=f"{_M}.services:SERVICES",
    frameworks=(ANY_MODEL,),
    native=True,
    distributions=("numpy", "onnxruntime"),
    model_files=(".onnx",),
)

__all__ = ["BACKEND", "BlackBox", "OnnxModel"]
