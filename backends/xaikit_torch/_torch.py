"""How the native backend sees a ``torch.nn.Module``.

One :class:`TorchModelView` per model (cached weakly, rebuilt when the module tree
changes: :func:`.views.model_view`). It answers, for any module -- ``nn.Sequential``,
a torchvision network, a subclass with its own ``forward`` --:

- what the model takes and returns (:meth:`TorchModelView.describe`): one forward pass
  of a zero image with a forward hook on every module gives each module's output shape,
  how often it ran (a module called twice, like the ``relu`` a torchvision
  ``BasicBlock`` reuses, is ambiguous by name), and the last module that ran, which
  says what the output is (:meth:`TorchModelView._output_activation`); each module's
  kind comes from :func:`.layer_kinds.layer_kind`;
- the output of any module, its gradient, and the logit (the input of a final
  ``nn.Softmax`` / ``nn.Sigmoid`` / ``nn.LogSoftmax``), through forward hooks that live
  for one pass (:func:`.hooks.pass_hooks`);
- the model above a layer (:meth:`TorchModelView.run_head`, :mod:`.heads`): the rest
  of an ``nn.Sequential``, or, for any other architecture, a forward pass whose hook *replaces*
  the layer's output by the given activations.

**No state changes.** Every pass runs in eval mode, put back module by module
afterwards, and each hook acts only in the thread that installed it (:mod:`.passes`:
the pass gate, the per-thread pass record, the reference-counted switches). Gradients
come from ``torch.autograd.grad``, so no ``.grad`` is ever written; every hook is
removed in a ``finally``.

**In-place operations.** torchvision's ReLUs are ``inplace=True``: a tensor captured by
a hook may be overwritten by the next module. A captured output is therefore copied,
and the copy is what the rest of the model sees (so a later in-place operation changes
neither the recorded activations nor the tensor the gradient is taken with respect to).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.errors import InputError, LayerError, ModelError, XaikitError
from xaikit.layer_layout import LayerLayout, decide_layout
from xaikit.outputs import describe_returned
from xaikit.spec import LayerInfo, ModelSpec

from .heads import Heads
from .hooks import pass_hooks
from .layer_kinds import layer_kind, layout_hint
from .passes import EvalScope, OutOfPlaceActivations, PassState, check_layer_calls, grad_mode_kept, pass_gate
from .shape_probe import ShapeProbe, holds_tensor

__all__ = ["TorchModelView", "as_numpy"]

#: Final modules whose input is the logit, and the output activation they stand for.
_FINAL_ACTIVATIONS: tuple[tuple[type, str], ...] = ((nn.Softmax, "softmax"), (nn.LogSoftmax, "softmax"),
                                                    (nn.Sigmoid, "sigmoid"))


class TorchModelView(Heads):
    """A ``torch.nn.Module`` as the native backend sees it; see the module docstring."""

    def __init__(self, model: nn.Module, structure: tuple[Any, ...]) -> None:
        for name, param in model.named_parameters():
            if isinstance(param, nn.parameter.UninitializedParameter):
                raise ModelError(f"module {name or type(model).__name__!r} has lazy parameters that are not "
                                 "initialised yet: run the model once on a batch of images before explaining it.")
        self._model_ref = weakref.ref(model)
        self.structure = structure
        self.name = getattr(model, "model_name", None) or type(model).__name__
        self.modules: dict[str, nn.Module] = {name: m for name, m in model.named_modules() if name}
        self._paths = {id(m): name for name, m in self.modules.items()}
        self.top_layers = tuple(name for name, _ in model.named_children())
        self.eval_scope = EvalScope(model)
        self.out_of_place = OutOfPlaceActivations(model)
        self._probes: dict[tuple[int, ...], ShapeProbe] = {}
        self._specs: dict[tuple[int, ...], ModelSpec] = {}
        self._image_shapes: dict[tuple[str, tuple[int, ...]], tuple[int, ...]] = {}
        self._heads: dict[str, tuple[nn.Module, ...] | None] = {}
        self._one_row_below: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.engine: Any = None

    # --------------------------------------------------------------- inspection
    @property
    def model(self) -> nn.Module:
        model = self._model_ref()
        if model is None:  # pragma: no cover - the explainer holds the model
            raise ModelError("the model this view belongs to no longer exists")
        return model

    def call(self, x: torch.Tensor) -> Any:
        """The model on ``x``: every pass of xaikit (and of the libraries' :class:`ScoreModel`) goes through here.

        The model gets a private copy: a ``forward`` that writes into its input
        (``x.sub_(0.5)``) changes neither the caller's tensor (which the images share memory
        with) nor the rows a method reuses for its next passes, and an input that requires
        grad (a leaf autograd refuses to see changed in place) stays untouched; gradients
        flow through the copy. One copy of each batch, beside a forward pass.
        """
        return self.model(x.clone())

    def _first_tensor(self) -> torch.Tensor | None:
        for tensor in self.model.parameters():
            return tensor
        for tensor in self.model.buffers():
            return tensor
        return None

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (the inputs go there; CPU for a model without weights)."""
        tensor = self._first_tensor()
        return torch.device("cpu") if tensor is None else tensor.device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model's weights (float32 unless the model was converted)."""
        for tensor in self.model.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def layer_name(self, layer: Any) -> Any:
        """The path of a module object of this model (names and None pass through, checked by the core)."""
        if isinstance(layer, str) and layer in self.modules:
            self._hookable(layer)  # a TorchScript module says so before anything else is checked
        if layer is None or isinstance(layer, str) or not isinstance(layer, nn.Module):
            return layer
        if layer is self.model:
            raise LayerError(f"layer is the model {self.name!r} itself; pass one of its modules (by path, such as "
                             f"{', '.join(map(repr, self.top_layers[:3]))}, or the module object)")
        path = self._paths.get(id(layer))
        if path is None:
            raise LayerError(f"the {type(layer).__name__} module passed as layer is not part of model {self.name!r}; "
                             f"pass one of its modules (by path, such as {', '.join(map(repr, self.top_layers[:3]))})")
        return path

    def module(self, name: str) -> nn.Module:
        try:
            return self.modules[name]
        except KeyError:
            raise LayerError(f"model {self.name!r} has no module {name!r}; its modules are: "
                             f"{', '.join(self.modules)}") from None

    def _hookable(self, name: str) -> nn.Module:
        module = self.module(name)
        if isinstance(module, torch.jit.ScriptModule):
            raise LayerError(f"module {name!r} of model {self.name!r} is TorchScript (compiled code), whose layers "
                             "cannot be reached; layer methods need the Python module: load its state_dict() into the "
                             "architecture (arch=...). Input-gradient and perturbation methods work with "
                             "score='output'.")
        return module

    # ------------------------------------------------------------- describing
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
        state = PassState()
        shapes: dict[str, tuple[int, ...] | None] = {}
        last_leaf: dict[str, Any] = {}

        def hook(name: str, module: nn.Module) -> Callable[..., None]:
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

        handles = []
        try:
            for name, module in self.modules.items():
                if not isinstance(module, torch.jit.ScriptModule):  # compiled code: no hooks
                    handles.append(module.register_forward_hook(hook(name, module), with_kwargs=True))
            with self.running(grad=False):
                x = torch.zeros((1, *image_shape), device=self.device, dtype=self.dtype)
                try:
                    out = self.call(x)
                except XaikitError:  # an output selection that selects nothing says so itself
                    raise
                except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                    raise InputError(self._shape_message(image_shape, exc)) from None
        finally:
            for handle in handles:
                handle.remove()
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
        # a score function (xaikit.targets) reads any (N, ...) output; class indices need (N, K)
        output_shape = tuple(int(s) for s in out.shape[1:]) if out.ndim > 2 else None
        activation, logit_is_input, log_probabilities = (self._output_activation(out, last_leaf)
                                                         if output_shape is None else ("unknown", False, False))
        for name, shape in shapes.items():
            if shape is not None:
                self._image_shapes[(name, shape)] = image_shape
        probe = ShapeProbe(shapes=dict(shapes), calls=dict(state.calls), order=tuple(shapes),
                           n_outputs=int(out.shape[1]), final=last_leaf.get("name"), output_activation=activation,
                           logit_is_input=logit_is_input, log_probabilities=log_probabilities,
                           output_shape=output_shape)
        self._probes[image_shape] = probe
        return probe

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

    # ------------------------------------------------------------------ passes
    @contextlib.contextmanager
    def running(self, grad: bool) -> Iterator[None]:
        """Eval mode, inference mode off, and autograd on or off, for one primitive call.

        xaikit's passes share the model (their hooks act only in their own thread); while a
        library's call holds it alone (:func:`xaikit_torch.adapters.library_call`), they wait.
        """
        with pass_gate(self.model).shared(), self.eval_scope, torch.inference_mode(False), \
                torch.set_grad_enabled(grad):
            yield

    def hooks(self, state: PassState, capture: Sequence[str] = (), *, grad: bool = False,
              replace: tuple[str, torch.Tensor] | None = None, final: str | None = None,
              relu_rule: str | None = None) -> contextlib.AbstractContextManager[PassState]:
        """Forward hooks for one pass, removed on leaving (also on errors): see :func:`.hooks.pass_hooks`."""
        return pass_hooks(self.modules, self.out_of_place, self._hookable, state, capture, grad=grad,
                          replace=replace, final=final, relu_rule=relu_rule)

    def forward(self, x: torch.Tensor, probe: ShapeProbe, capture: Sequence[str] = (), *, grad: bool = False,
                relu_rule: str | None = None) -> PassState:
        """Run the model on ``x``, recording the logit and the outputs of ``capture``.

        With ``capture`` and ``grad``, autograd starts at the captured layers (the caller
        differentiates with respect to ``state.outputs[layer]``); without ``capture``,
        ``grad`` is the caller's grad mode (the input's gradient).
        """
        state = PassState()
        with grad_mode_kept():
            if capture and grad:  # the part below the layers builds no graph
                torch.set_grad_enabled(False)
            with self.hooks(state, capture, grad=grad, final=probe.final if probe.logit_is_input else None,
                            relu_rule=relu_rule):
                state.outputs["__output__"] = self.call(x)
        check_layer_calls(state, capture)
        return state

    # ------------------------------------------------------------- fingerprint
    def weights_fingerprint(self) -> str:
        """A CRC-32 of every parameter's and buffer's bytes, with its name, shape and dtype, combined.

        Content only, so the same weights give the same fingerprint in any process (the
        bench keys its cells with it) and every write is seen, however it was made:
        ``with torch.no_grad(): w.copy_(w[perm])``, ``nn.init.*``, ``load_state_dict``,
        optimizer steps, assignments -- and also writes that leave torch's version
        counters unchanged (in-place operations on ``w.data``, writes through a NumPy
        view, fused optimizer kernels such as ``Adam(fused=True)``), which is why the
        counters are not used: ``(id, _version, data_ptr)`` would be free but would miss
        those, and differs between processes. CRC-32 is linear over the bits, so no
        permutation of values and no set of sign flips of a tensor smaller than 2**32
        values leaves it unchanged; other changes go unseen with probability 2**-32 per
        tensor. Cost: about 1 ns per value on one CPU core (resnet18's 11.7 M: ~12 ms;
        weights on a GPU are copied to the host first), far less than the forward passes
        :meth:`xaikit.engine.Engine.memo` saves.
        """
        rows = []
        with torch.no_grad():
            for name, t in [*self.model.named_parameters(), *self.model.named_buffers()]:
                data = t.detach().contiguous().reshape(-1)
                raw = data.view(torch.uint8) if data.element_size() > 0 else data
                rows.append((name, tuple(t.shape), str(t.dtype), zlib.crc32(raw.cpu().numpy())))
        return hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float32 NumPy copy of a tensor on any device."""
    return tensor.detach().to(device="cpu", dtype=torch.float32).numpy()
