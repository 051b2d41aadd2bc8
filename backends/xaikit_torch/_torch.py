"""How the native backend sees a ``torch.nn.Module``.

One :class:`TorchModelView` per model (cached weakly, rebuilt when the module tree
changes: :func:`.views.model_view`). It answers, for any module -- ``nn.Sequential``,
a torchvision network, a subclass with its own ``forward`` --:

- what the model takes and returns (:meth:`TorchModelView.describe`, :mod:`.describing`):
  one forward pass of a zero image with a forward hook on every module gives each
  module's output shape, how often it ran, its layout and the last module that ran,
  which says what the output is;
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
import hashlib
import threading
import weakref
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.errors import LayerError, ModelError
from xaikit.spec import ModelSpec

from .describing import Describing
from .heads import Heads
from .hooks import pass_hooks
from .passes import EvalScope, OutOfPlaceActivations, PassState, check_layer_calls, grad_mode_kept, pass_gate
from .shape_probe import ShapeProbe

__all__ = ["TorchModelView", "as_numpy"]

class TorchModelView(Describing, Heads):
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
