"""xaikit's passes on a shared ``torch.nn.Module``: who may run them, what one records, what it changes meanwhile.

**Threads.** Hooks are attached to the shared modules, so each hook acts only in the
thread that installed it (:class:`PassState` records its owner): another thread running the
same model at the same moment (another explanation, the user's own code) goes through it
unchanged. A library's hooks (Captum's, pytorch-grad-cam's) act in every thread, so a
library call takes the model alone (:class:`PassGate`, one per model object).

**No state changes.** Every pass runs in eval mode: the ``training`` flag of every
module is remembered, set to False while xaikit's passes run (reference-counted across
threads, :class:`EvalScope`) and put back module by module afterwards, so BatchNorm
uses and keeps its running statistics and Dropout is off. In-place ``nn.ReLU`` modules
are run out of place while a modified-backward pass runs (:class:`OutOfPlaceActivations`), and put
back afterwards. The thread's autograd mode is restored after a pass
(:func:`grad_mode_kept`).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xaikit.errors import LayerError

from .outputs import unwrap

__all__ = ["EvalScope", "OutOfPlaceActivations", "PassGate", "PassState", "check_layer_calls", "grad_mode_kept",
           "pass_gate"]


class PassGate:
    """Who may run passes on one model: xaikit's passes together, or one library call alone.

    xaikit's hooks act only in the thread that installed them, so its passes share a model
    freely (:meth:`shared`). A library's hooks (Captum's, pytorch-grad-cam's) act in every
    thread, so a library call takes the model alone (:meth:`exclusive`): it waits for the
    passes under way, and new passes wait for it. Both are re-entrant in the thread that
    holds the model alone (the library call's own passes go through).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._owner: int | None = None
        self._depth = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            inside = self._owner == me
            if not inside:
                while self._owner is not None:
                    self._cond.wait()
                self._shared += 1
        try:
            yield
        finally:
            if not inside:
                with self._cond:
                    self._shared -= 1
                    if not self._shared:
                        self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                while self._owner is not None or self._shared:
                    self._cond.wait()
                self._owner = me
            self._depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._owner = None
                    self._cond.notify_all()


_GATES: weakref.WeakKeyDictionary[nn.Module, PassGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def pass_gate(model: nn.Module) -> PassGate:
    """The :class:`PassGate` of ``model`` (one per model object, whatever becomes of its view; an output
    selection (:mod:`.outputs`) shares its model's gate: they share their modules)."""
    model = unwrap(model)
    with _GATES_LOCK:
        gate = _GATES.get(model)
        if gate is None:
            gate = _GATES[model] = PassGate()
        return gate


@dataclass
class PassState:
    """What one forward pass records, for the thread that runs it."""

    owner: int = field(default_factory=threading.get_ident)
    logits: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def mine(self) -> bool:
        return threading.get_ident() == self.owner


class EvalScope:
    """Eval mode while any of xaikit's passes runs on the model; every module's flag restored after.

    Reference-counted: the first pass to enter records each module's ``training`` flag
    and switches the model to eval mode, the last to leave restores the flags one by one
    (``module.training = flag``, not ``model.train()``, so mixed modes come back as they
    were). Code outside xaikit that trains the same model in another thread at the same
    time would see eval mode meanwhile: do not explain a model while it trains.
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = weakref.ref(model)
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                model = self._model()
                inner = None if model is None else unwrap(model)  # an output selection's model: its own flag too
                modules = [] if model is None else [*model.modules(), *([inner] if inner is not model else [])]
                self._saved = [(m, m.training) for m in modules]
                for module, training in self._saved:
                    if training:
                        module.training = False
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for module, training in self._saved:
                    module.training = training
                self._saved = []


class OutOfPlaceActivations:
    """In-place activation modules (``nn.ReLU``, ``nn.LeakyReLU``, ...) switched to out of place while any
    modified-backward pass runs (reference-counted).

    A forward hook that recomputes an activation from its input needs that input: an
    in-place activation would have overwritten it. Out-of-place activations give the same
    values.
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = weakref.ref(model)
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: list[nn.Module] = []

    def relus(self) -> Any:
        with self._lock:
            if self._depth == 0:
                model = self._model()
                self._saved = [m for m in model.modules() if type(m).__module__ == "torch.nn.modules.activation"
                               and getattr(m, "inplace", False) is True] if model else []
                for module in self._saved:
                    module.inplace = False
            self._depth += 1
        return self  # a handle: remove() ends this pass's use

    def remove(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for module in self._saved:
                    module.inplace = True
                self._saved = []


@contextlib.contextmanager
def grad_mode_kept() -> Iterator[None]:
    """Restore the thread's autograd mode on leaving (hooks switch it on half-way through a pass)."""
    previous = torch.is_grad_enabled()
    try:
        yield
    finally:
        torch.set_grad_enabled(previous)


def check_layer_calls(state: PassState, layers: Sequence[str]) -> None:
    """Raise :class:`~xaikit.LayerError` unless each of ``layers`` ran exactly once in the pass ``state`` recorded."""
    for name in layers:
        calls = state.calls.get(name, 0)
        if calls > 1:
            raise LayerError(f"layer {name!r} is called {calls} times in one forward pass (a shared module, such as "
                             "the relu of a torchvision BasicBlock); its output is ambiguous. Pick a module that is "
                             "used once (e.g. the block that contains it).")
        if calls == 0:
            raise LayerError(f"layer {name!r} was not called during the forward pass; pick a module on the path from "
                             "input to output.")
