"""ONNX image classifiers as black boxes, run by onnxruntime.

An ONNX file is a graph of standard operators and weights, no Python code, so loading
it needs no ``unsafe``. What the graph states is read from it:

- **layout**: from the input's dimensions ``(N, d1, d2, d3)``: channels-first when
  ``d1`` is a channel count (1, 3 or 4) and ``d3`` is not, channels-last the other way
  round; otherwise ``OnnxModel(path, layout=...)`` must say it;
- **output activation**: from the node that produces the output: ``Softmax`` (over the
  class axis) and ``Sigmoid`` give probabilities, and their input (the logits) is exposed
  as an extra output of the session, so ``score="logit"`` is available, the default as
  for a Keras model; ``Gemm``/``MatMul`` (or an ``Add`` of a ``MatMul``) give logits;
  anything else is unknown (``score="output"``);
- **identity**: a hash of the file's bytes (and of external weight files), so results
  are reused exactly while the file is the same.

A damaged or non-ONNX file gets a :class:`~xaikit.errors.FileFormatError` naming it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.errors import FileFormatError, InputError, MissingDependencyError, ModelError

from .blackbox import BlackBox, check_scores, infer_layout

__all__ = ["OnnxModel"]

_INSTALL = 'pip install "xaikit[onnx]"'
_LINEAR = ("Gemm", "MatMul")


def _modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(f"ONNX models need onnx and onnxruntime ({exc.name} is missing): {_INSTALL}") \
            from None
    return onnx, onnxruntime


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _dims(value_info: Any) -> tuple[int | None, ...] | None:
    """Static dimensions of a graph input/output (None for symbolic ones), or None if its rank is unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)


class OnnxModel(BlackBox):
    """An ONNX image classifier file, explained as a black box through onnxruntime.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file (one image input of rank 4, float32; external weight files
        next to it are read too).
    layout : {"NHWC", "NCHW"} or None
        ``None``: read from the input's dimensions (see the module docstring).
    output_name : str or None
        The graph output to explain when it has several (default: its only output).
    name : str or None
        Name in messages (default: the file name).
    providers : sequence of str or None
        onnxruntime execution providers (default: CPU).
    """

    framework = "onnx"

    def __init__(self, path: str | os.PathLike[str], *, layout: str | None = None, output_name: str | None = None,
                 name: str | None = None, providers: Any = None) -> None:
        onnx, ort = _modules()
        self.path = Path(path)
        proto, digest = _read(onnx, self.path)
        graph = proto.graph
        initialisers = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initialisers]
        if len(inputs) != 1:
            raise ModelError(f"{self.path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); xaikit "
                             "explains image classifiers with one image input")
        image = inputs[0]
        if image.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            kind = onnx.TensorProto.DataType.Name(image.type.tensor_type.elem_type)
            raise ModelError(f"{self.path} takes {kind} images; xaikit gives models float32 images (export the "
                             "model with a float32 input)")
        dims = _dims(image)
        if dims is None or len(dims) != 4:
            raise ModelError(f"{self.path}'s input {image.name!r} has shape {dims}; xaikit explains image "
                             "classifiers taking (N, H, W, C) or (N, C, H, W) batches")
        output = _pick_output(graph, output_name, self.path)
        out_dims = _dims(output)
        if out_dims is not None and len(out_dims) != 2:
            raise ModelError(f"{self.path}'s output {output.name!r} has shape {out_dims}; xaikit explains (N, K) "
                             "class scores (pass output_name=... to choose another output)")
        activation, logits = _activation(graph, output.name, proto)
        if logits is not None:  # expose the logits: score="logit" then works as on a Keras model
            proto.graph.output.append(onnx.helper.make_tensor_value_info(
                logits, output.type.tensor_type.elem_type, None))
        try:
            self.session = ort.InferenceSession(proto.SerializeToString(), providers=providers or
                                                ["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors have no common public base
            raise ModelError(f"onnxruntime cannot run {self.path}: {_first_line(exc)}") from None
        self.input_name, self.output_name, self.logits_name = image.name, output.name, logits
        self.batch = dims[0]  # a fixed batch size (exports often fix it to 1): fed in slices of it
        self.activation = activation
        self.static_outputs = None if out_dims is None else out_dims[1]
        self._digest = digest
        self._n_parameters = sum(int(np.prod(t.dims)) for t in graph.initializer)
        self._version = ort.__version__
        output_kind = {"softmax": "probability", "sigmoid": "probability", "linear": "logit"}.get(activation, "output")
        super().__init__(self._run, layout=layout or infer_layout(dims[1:], str(self.path)), output=output_kind,
                         input_shape=dims[1:], name=name or self.path.name, version=digest, thread_safe=True)

    # ----------------------------------------------------------------- running
    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.evaluate(x)[0]

    def evaluate(self, x: np.ndarray, logits: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        want = [self.output_name] + ([self.logits_name] if logits and self.logits_name else [])
        step = self.batch or len(x)
        parts = []
        for start in range(0, len(x), step):
            chunk = np.ascontiguousarray(x[start:start + step], np.float32)
            short = step - len(chunk)
            if short:  # the last slice of a fixed-batch model: padded, the padding's rows dropped
                chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), np.float32)])
            try:
                results = self.session.run(want, {self.input_name: chunk})
            except Exception as exc:  # noqa: BLE001 - onnxruntime's errors have no common public base
                raise ModelError(f"onnxruntime failed on {self.path} with a float32 batch of shape {chunk.shape}: "
                                 f"{_first_line(exc)}") from None
            parts.append([r[:len(r) - short] for r in results])
        outputs, *rest = (np.concatenate([p[i] for p in parts]) for i in range(len(want)))
        checked = check_scores(outputs, len(x), self.name)
        if rest:  # the exposed input of the final Softmax/Sigmoid
            return checked, check_scores(rest[0], len(x), f"{self.name} (logits {self.logits_name!r})")
        return checked, (checked if logits and self.output == "logit" else None)

    # ----------------------------------------------------------------- what xaikit records
    @property
    def no_logit(self) -> str:
        return ""  # softmax/sigmoid: the logits are exposed; linear: the output is the logit

    def n_outputs(self, image_shape: tuple[int, ...]) -> int:
        return self.static_outputs or super().n_outputs(image_shape)

    def fingerprint(self) -> str:
        return "onnx:" + self._digest

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": self._version}

    def parameter_count(self) -> int:
        return self._n_parameters


def _read(onnx: Any, path: Path) -> tuple[Any, str]:
    """The checked model of ``path`` (external weights loaded) and a hash of its bytes."""
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is a folder, not an ONNX file")
    data = path.read_bytes()
    if not data:
        raise FileFormatError(f"{path} is empty (0 bytes); not an ONNX model")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and others
        raise FileFormatError(f"{path} is not a valid ONNX model (damaged, truncated, or another kind of file): "
                              f"{_first_line(exc)}") from None
    try:  # by path: external weight files are found next to the model, whatever the working directory
        onnx.checker.check_model(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx's ValidationError and others
        external = "external weights" if _uses_external_data(proto) else "graph"
        raise FileFormatError(f"{path} is not a valid ONNX model (its {external} do not check: damaged, truncated, "
                              f"missing, or another kind of file): {_first_line(exc)}") from None
    digest = hashlib.blake2b(data, digest_size=16)
    from onnx.external_data_helper import load_external_data_for_model

    if _uses_external_data(proto):
        try:
            load_external_data_for_model(proto, str(path.parent))
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{path}: cannot read its external weights: {_first_line(exc)}") from None
        for tensor in proto.graph.initializer:
            digest.update(tensor.raw_data)
    if not proto.graph.node:
        raise FileFormatError(f"{path} holds an ONNX model without any operator; not an image classifier")
    return proto, digest.hexdigest()


def _uses_external_data(proto: Any) -> bool:
    """Whether some weights of ``proto`` live in files beside the model file."""
    from onnx.external_data_helper import uses_external_data

    return any(uses_external_data(t) for t in proto.graph.initializer)


def _pick_output(graph: Any, name: str | None, path: Path) -> Any:
    outputs = list(graph.output)
    if name is not None:
        for out in outputs:
            if out.name == name:
                return out
        raise InputError(f"{path} has no output {name!r}; its outputs: {', '.join(o.name for o in outputs)}")
    if len(outputs) != 1:
        raise ModelError(f"{path} has {len(outputs)} outputs ({', '.join(o.name for o in outputs)}); choose the "
                         "class scores with OnnxModel(path, output_name=...)")
    return outputs[0]


def _activation(graph: Any, output: str, proto: Any) -> tuple[str, str | None]:
    """``(activation, logits tensor or None)`` from the node producing ``output``."""
    producers = {o: node for node in graph.node for o in node.output}
    node = producers.get(output)
    if node is None:
        return "unknown", None
    if node.op_type in ("Softmax", "Sigmoid"):
        if node.op_type == "Softmax":
            opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=13)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1 if opset < 13 else -1)
            if axis not in (1, -1):
                return "unknown", None
        return node.op_type.lower(), node.input[0]
    if node.op_type in _LINEAR:
        return "linear", None
    if node.op_type == "Add" and any(producers.get(i) is not None and producers[i].op_type == "MatMul"
                                     for i in node.input):
        return "linear", None
    return "unknown", None
