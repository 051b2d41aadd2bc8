"""pytorch-grad-cam adapter for xaikit: the library's CAM classes, returned as raw float maps at the layer.

pytorch-grad-cam (``pip install grad-cam``) rectifies each CAM (``np.maximum(cam, 0)``),
min-max scales it to [0, 1] and resizes it to the image (``scale_cam_image``), then
scales again after averaging the target layers: what it returns has lost the sign and the
scale. The adapter runs the library's own ``forward`` (its hooks, its backward pass, its
``get_cam_weights`` / ``get_cam_image``) and keeps the map ``get_cam_image`` returns,
before any of that; see ``docs/backends/pytorch-grad-cam.md``.

Importing this package imports neither torch nor the library.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_gradcam.cams"

BACKEND = BackendSpec(
    name="pytorch-grad-cam",
    description="pytorch-grad-cam's CAM classes on PyTorch modules, as raw float maps (before its min-max scaling)",
    methods={
        "gradcam": f"{_M}:GradCAM",
        "gradcam++": f"{_M}:GradCAMPlusPlus",
        "xgradcam": f"{_M}:XGradCAM",
        "hirescam": f"{_M}:HiResCAM",
        "layercam": f"{_M}:LayerCAM",
        "scorecam": f"{_M}:ScoreCAM",
        "ablationcam": f"{_M}:AblationCAM",
        "eigencam": f"{_M}:EigenCAM",
        "eigengradcam": f"{_M}:EigenGradCAM",
    },
    requires=("torch", "pytorch_grad_cam"),
    extra="torch",
    frameworks=("torch",),
    native=False,
    distributions=("grad-cam",),
)

__all__ = ["BACKEND"]
