"""One :class:`~._torch.TorchModelView` per ``torch.nn.Module``, cached weakly while its module tree stays the same.

A view is rebuilt when a module of the tree is added, removed or replaced
(:func:`_structure`); weights may change freely.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from torch import nn

from xaikit.call_context import once_per_call
from xaikit.errors import ModelError

from ._torch import TorchModelView
from .passes import pass_gate

__all__ = ["model_view"]

_VIEWS: weakref.WeakKeyDictionary[nn.Module, TorchModelView] = weakref.WeakKeyDictionary()
_VIEWS_LOCK = threading.Lock()


def _structure(model: nn.Module) -> tuple[Any, ...]:
    """What a view depends on: the module tree, by identity (replacing a module rebuilds the view)."""
    return tuple((name, id(module)) for name, module in model.named_modules())


def model_view(model: Any) -> TorchModelView:
    """The (cached) view of ``model``; :class:`ModelError` if it is not a usable ``nn.Module``.

    Within one ``explain`` call the module tree is walked once: every later look-up of the call returns the view
    its first one found (:func:`xaikit.call_context.once_per_call`).
    """
    return once_per_call("torch_view", model, lambda: _find_view(model))


def _find_view(model: Any) -> TorchModelView:
    if not isinstance(model, nn.Module):
        raise ModelError(f"xaikit's torch backend explains torch.nn.Module objects; got {type(model).__name__}. "
                         "Wrap a plain function in an nn.Module, or pick the backend for your framework.")
    # A library call holding the model alone may have swapped a module of it (pytorch-grad-cam's AblationCAM
    # puts its ablation layer in place of the target layer): read the module tree only when no such call runs,
    # else a view of the swapped model would be cached and its hooks put on a module that is taken out again.
    with pass_gate(model).shared():
        structure = _structure(model)
        with _VIEWS_LOCK:
            view = _VIEWS.get(model)
            if view is None or view.structure != structure:
                view = TorchModelView(model, structure)
                _VIEWS[model] = view
            return view
