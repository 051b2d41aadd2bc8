"""Describing a ``torch.nn.Module`` (a mixin of :class:`~._torch.TorchModelView`): what it takes and returns.

One forward pass of a zero image with a forward hook on every module (:meth:`Describing.probe`)
gives each module's output shape, how often it ran (a module called twice, like the ``relu`` a
torchvision ``BasicBlock`` reuses, is ambiguous by name), and the last module that ran, which says
what the output is (:meth:`Describing._output_activation`); each module's kind comes from
:func:`.layer_kinds.layer_kind`, where its output holds a map from :meth:`Describing._layouts`, and
whether a token layer's grid reaches the output from one more pass
(:meth:`Describing._map_reaches_output`). The result is a :class:`~xaikit.ModelSpec` per image shape
(:meth:`Describing.describe`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from xaikit.errors import InputError, LayerError, ModelError, XaikitError
from xaikit.layer_layout import LayerLayout, decide_layout
from xaikit.outputs import describe_returned
from xaikit.spec import LayerInfo, ModelSpec

from .layer_kinds import layer_kind, layout_hint
from .passes import PassState
from .shape_probe import ShapeProbe, holds_tensor

__all__ = ["Describing"]

#: Final modules whose input is the logit, and the output activation they stand for.
_FINAL_ACTIVATIONS: tuple[tuple[type, str], ...] = ((nn.Softmax, "softmax"), (nn.LogSoftmax, "softmax"),
                                                    (nn.Sigmoid, "sigmoid"))


class Describing:
    """Describing the model; the view sets ``modules``, ``name``, ``top_layers``, ``_probes``, ``_specs`` and
    ``_image_shapes`` and gives ``model``, ``device``, ``dtype``, ``running`` and ``call``."""

    modules: dict[str, nn.Module]
    name: str
    top_layers: tuple[str, ...]
    _probes: dict[tuple[int, ...], ShapeProbe]
    _specs: dict[tuple[int, ...], ModelSpec]
    _image_shapes: dict[tuple[str, tuple[int, ...]], tuple[int, ...]]
    model: Any
    device: Any
    dtype: Any
    running: Any
    call: Any

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        """The :class:`~xaikit.ModelSpec` for images of shape ``image_shape`` ``(C, H, W)`` (cached per shape).

        ``None``: what is known without running the model: its modules and their kinds, the
        input channels of the first convolution or linear layer (registration order), no
        output width (0) and an ``"unknown"`` output activation (which module runs last is
        known only from a pass).
        """
        if image_shape is None:
            channels = next((int(m.in_channels) for m in self.modules.values() if hasattr(m, "in_channels")), None)
            info = tuple(LayerInfo(n, layer_kind(m), None, 0) for n, m in self.modules.items())
            return ModelSpec((channels, None, None), 0, "unknown", tuple(self.modules), self.top_layers,
                             layout="NCHW", layer_info=info, framework="torch", name=self.name)
        image_shape = tuple(int(s) for s in image_shape)
        spec = self._specs.get(image_shape)
        if spec is not None:
            return spec
        probe = self.probe(image_shape)
        layouts, undecided = self._layouts(probe, image_shape)
        reaches = self._map_reaches_output(image_shape, {n: lay for n, lay in layouts.items()
                                                         if lay.kind == "tokens" and lay.prefix})
        info = tuple(LayerInfo(n, layer_kind(self.modules[n]), probe.shapes.get(n), probe.calls.get(n, 0),
                               layouts.get(n), undecided.get(n, ""), reaches.get(n))
                     for n in (*probe.order, *(n for n in self.modules if n not in probe.calls)))
        spec = ModelSpec(image_shape, probe.n_outputs, probe.output_activation, tuple(self.modules),
                         self.top_layers, layout="NCHW", layer_info=info, framework="torch", name=self.name,
                         output_shape=probe.output_shape)
        self._specs[image_shape] = spec
        return spec

    def _layouts(self, probe: ShapeProbe, image_shape: tuple[int, ...]
                 ) -> tuple[dict[str, LayerLayout], dict[str, str]]:
        """Each module's :class:`~xaikit.layer_layout.LayerLayout` (where its output holds a map), and why not where
        the shapes allow two readings.

        In the order modules finish: what the module's class says (:func:`.layer_kinds.layout_hint`);
        else the layout of the module that finished just before it with the same output shape when
        that is what it repeats (:meth:`_repeats_layout`: an activation, a dropout, a norm, or a
        block or container ending with that module); else the shapes
        (:func:`xaikit.layer_layout.decide_layout`), with the grids of the
        layers decided so far.
        """
        size = (image_shape[1], image_shape[2])
        layouts: dict[str, LayerLayout] = {}
        undecided: dict[str, str] = {}
        pending: list[str] = []
        previous: tuple[tuple[int, ...] | None, LayerLayout | None, str] = (None, None, "")
        for name in probe.order:
            shape = probe.shapes.get(name)
            hint = layout_hint(self.modules[name], shape)
            found: LayerLayout | str | None = None
            if shape is not None and len(shape) == 3:
                if hint is not None:
                    found = decide_layout(shape, hint, size)
                elif previous[0] == shape and previous[1] is not None and self._repeats_layout(name, previous[2]):
                    found = dataclasses.replace(previous[1], source="structure")
            if isinstance(found, LayerLayout):
                layouts[name] = found
            elif shape is not None and len(shape) in (2, 3):
                pending.append(name)
            previous = (shape, layouts.get(name), name)
        grids = [lay.grid for lay in layouts.values()]
        for name in pending:
            found = decide_layout(probe.shapes[name], None, size, grids)
            if isinstance(found, LayerLayout):
                layouts[name] = found
            elif isinstance(found, str):
                undecided[name] = found
        return layouts, undecided

    def _repeats_layout(self, name: str, before: str) -> bool:
        """Whether module ``name`` keeps the layout of ``before``, the module that finished just before it.

        An elementwise module does (an activation, a dropout, a norm, ``nn.Identity``,
        torchvision's ``StochasticDepth``), and so does a block or container that ``before`` is
        part of (its output is computed from it: a residual sum, the last child's output). Any
        other module may permute its input (a custom ``forward``): the shapes decide.
        """
        module = self.modules[name]
        if before.startswith(name + "."):
            return True
        if next(module.children(), None) is not None:
            return False
        return layer_kind(module) in ("activation", "dropout", "norm") or isinstance(module, nn.Identity) or \
            type(module).__name__ == "StochasticDepth"

    def _map_reaches_output(self, image_shape: tuple[int, ...], token_layers: dict[str, LayerLayout]
                            ) -> dict[str, bool]:
        """For token layers with dropped tokens: whether the outputs depend on their grid tokens.

        One forward and backward pass on a seeded random image (its own generator), the
        gradient of the summed outputs taken at every such layer's output at once. A
        transformer whose head reads the class token gets none at the grid tokens of its
        last layers (after the last attention has mixed them into the class token). Empty
        (not known) when no layer gets any gradient (a zero-initialised head), or when the
        backward pass fails.
        """
        if not token_layers:
            return {}
        state = PassState()
        outputs: dict[str, torch.Tensor] = {}

        def keep(name: str) -> Callable[..., None]:
            def hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
                if state.mine() and isinstance(output, torch.Tensor) and output.requires_grad:
                    outputs[name] = output
            return hook

        generator = torch.Generator().manual_seed(0)
        x = torch.randn((1, *image_shape), generator=generator).to(device=self.device, dtype=self.dtype)
        handles = [self.modules[name].register_forward_hook(keep(name)) for name in token_layers]
        try:
            with self.running(grad=True):
                out = self.model(x)
                names = list(outputs)
                if not names or not isinstance(out, torch.Tensor):
                    return {}
                grads = torch.autograd.grad(out.float().sum(), [outputs[n] for n in names], allow_unused=True)
        except RuntimeError:
            return {}
        finally:
            for handle in handles:
                handle.remove()
        found = {}
        for name, grad in zip(names, grads):
            grid = None if grad is None else grad[:, token_layers[name].prefix:]
            found[name] = bool(grid is not None and torch.count_nonzero(grid) > 0)
        return found if any(found.values()) else {}

    def probe(self, image_shape: tuple[int, ...]) -> ShapeProbe:
        """One forward pass of a zero image with a hook on every module; see :meth:`describe`."""
        cached = self._probes.get(image_shape)
        if cached is not None:
            return cached
        if len(image_shape) != 3:
            raise InputError(f"images of shape (N, {', '.join(map(str, image_shape))}): PyTorch image models take "
                             "(N, C, H, W) batches")
        recorder = _ShapeRecorder()
        out = self._recorded_pass(image_shape, recorder)
        self._check_returned(out)
        shapes, last_leaf = recorder.shapes, recorder.last_leaf
        # a score function (xaikit.targets) reads any (N, ...) output; class indices need (N, K)
        output_shape = tuple(int(s) for s in out.shape[1:]) if out.ndim > 2 else None
        activation, logit_is_input, log_probabilities = (self._output_activation(out, last_leaf)
                                                         if output_shape is None else ("unknown", False, False))
        for name, shape in shapes.items():
            if shape is not None:
                self._image_shapes[(name, shape)] = image_shape
        probe = ShapeProbe(shapes=dict(shapes), calls=dict(recorder.state.calls), order=tuple(shapes),
                           n_outputs=int(out.shape[1]), final=last_leaf.get("name"), output_activation=activation,
                           logit_is_input=logit_is_input, log_probabilities=log_probabilities,
                           output_shape=output_shape)
        self._probes[image_shape] = probe
        return probe

    def _recorded_pass(self, image_shape: tuple[int, ...], recorder: _ShapeRecorder) -> Any:
        """The model's output on a zero image, ``recorder``'s hook on every module (but TorchScript ones) meanwhile;
        a failing forward pass becomes an :class:`~xaikit.InputError` about the image shape."""
        handles = []
        try:
            for name, module in self.modules.items():
                if not isinstance(module, torch.jit.ScriptModule):  # compiled code: no hooks
                    handles.append(module.register_forward_hook(recorder.hook(name, module), with_kwargs=True))
            with self.running(grad=False):
                x = torch.zeros((1, *image_shape), device=self.device, dtype=self.dtype)
                try:
                    return self.call(x)
                except XaikitError:  # an output selection that selects nothing says so itself
                    raise
                except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                    raise InputError(self._shape_message(image_shape, exc)) from None
        finally:
            for handle in handles:
                handle.remove()

    def _check_returned(self, out: Any) -> None:
        """A :class:`~xaikit.ModelError` unless the model returned one ``(N, ...)`` tensor."""
        if not isinstance(out, torch.Tensor):
            what = describe_returned(out, torch.is_tensor, lambda t: t.shape)
            raise ModelError(f"model {self.name!r} returns {what}; xaikit explains one tensor: (N, K) class scores, "
                             "or any (N, ...) output through a score function (xaikit.targets). Say which output "
                             "with output= (an index for a tuple or list, a key for a dict such as 'out' for a "
                             "torchvision segmentation model, an attribute name such as 'logits'; command line: "
                             "--model-output).")
        if out.ndim < 2:
            raise ModelError(f"model {self.name!r} returns shape {tuple(out.shape)}; xaikit explains models returning "
                             "(N, ...) per batch: (N, K) class scores, or any output through a score function "
                             "(xaikit.targets).")

    def _output_activation(self, out: torch.Tensor, last: dict[str, Any]) -> tuple[str, bool, bool]:
        """``(output activation, logit is the final module's input, output is log-probabilities)``.

        The last module that ran tells, if the model returns its output unchanged (same
        tensor, same values): ``nn.Softmax`` / ``nn.LogSoftmax`` -> softmax,
        ``nn.Sigmoid`` -> sigmoid (the logit is the module's input); another activation
        -> unknown; anything else (``nn.Linear``, a convolution, pooling) -> linear: the
        output is the logit, as torch classifiers usually return. An output computed
        after the last module (``F.softmax(self.fc(x))``) -> unknown.
        """
        output = last.get("output")
        same = (output is not None and out.data_ptr() == last["ptr"] and out.numel() == output.numel()
                and torch.equal(out.detach().reshape(-1), output.reshape(-1)))
        if not same:
            return "unknown", False, False
        module = self.modules[last["name"]]
        for kind, name in _FINAL_ACTIVATIONS:
            if isinstance(module, kind):
                return name, True, isinstance(module, nn.LogSoftmax)
        if layer_kind(module) == "activation":
            return "unknown", False, False
        return "linear", False, False

    def _shape_message(self, image_shape: tuple[int, ...], exc: BaseException) -> str:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        message = (f"model {self.name!r} cannot take images of shape (N, {', '.join(map(str, image_shape))}) "
                   f"(channels first): {first}")
        if image_shape[-1] in (1, 3, 4) and image_shape[0] not in (1, 3, 4):
            message += (". The images look channels-last; PyTorch models take (N, C, H, W): pass "
                        "images.transpose(0, 3, 1, 2)")
        return message

    def image_shape_for(self, layer: str, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        """An image shape ``(C, H, W)`` for which ``layer`` outputs ``raw_shape`` per image (its own layout)."""
        shape = self._image_shapes.get((layer, tuple(raw_shape)))
        if shape is None:
            raise LayerError(f"layer {layer!r} was never seen to output shape (N, {', '.join(map(str, raw_shape))}); "
                             "describe the model with the images first")
        return shape


class _ShapeRecorder:
    """What the hooks of the describing pass record: each module's per-image output shape (the last call's; ``None``
    when it is not per image), how often it ran (``state.calls``), in the order modules finish, and the last leaf
    module that ran (``last_leaf``: its name, a copy of its output and the output's data pointer)."""

    def __init__(self) -> None:
        self.state = PassState()
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        self.last_leaf: dict[str, Any] = {}

    def hook(self, name: str, module: nn.Module) -> Callable[..., None]:
        """The forward hook (``with_kwargs=True``) recording module ``name``'s calls."""
        state, shapes, last_leaf = self.state, self.shapes, self.last_leaf
        leaf = next(module.children(), None) is None

        def record(_: nn.Module, inputs: tuple[Any, ...], *rest: Any) -> None:
            # ``rest`` is ``(kwargs, output)``; torch marks a hook as taking keyword arguments after registering
            # it, so another thread's forward may call it as ``(module, inputs, output)`` in between: never
            # this pass's call (registered before this pass runs)
            if len(rest) != 2 or not state.mine():
                return
            kwargs, output = rest
            state.calls[name] = state.calls.get(name, 0) + 1
            shapes.pop(name, None)  # finish order: the last call counts
            # a module called without a tensor (Hugging Face Swin's relative position bias, a table of
            # parameters) computes nothing from the image: its (1, ...) output is not a per-image map
            from_image = holds_tensor(inputs) or holds_tensor(tuple(kwargs.values()))
            per_image = from_image and isinstance(output, torch.Tensor) and output.ndim >= 1 and \
                output.shape[0] == 1
            shapes[name] = tuple(output.shape[1:]) if per_image else None  # (windows, ...) rows: not per image
            if leaf:
                last_leaf.clear()
                if isinstance(output, torch.Tensor):
                    last_leaf.update(name=name, output=output.detach().clone(), ptr=output.data_ptr())
                else:
                    last_leaf.update(name=name)
        return record
