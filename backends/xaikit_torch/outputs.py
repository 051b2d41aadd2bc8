"""``output=`` for PyTorch modules: a module returning only the class scores of a model that returns more.

:func:`with_output` gives a :class:`SelectedOutput`: a module that *shares* the
model's submodules, parameters and buffers (the same dictionaries, so
``named_modules()`` paths, ``state_dict()`` keys and hooks are the model's) and whose
forward runs the model and keeps one tensor, chosen by
:func:`xaikit.outputs.select_output`. Every native pass, Captum, pytorch-grad-cam and
shap then see a module returning ``(N, K)`` scores, with the layers users name.
One wrapper per (model, selection), kept while the model lives; it holds the model
weakly.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import torch
from torch import nn

from xaikit.errors import ModelError
from xaikit.outputs import check_output, select_output

__all__ = ["SelectedOutput", "selects_by_default", "unwrap", "with_output"]

_WRAPPERS: weakref.WeakKeyDictionary[nn.Module, dict[Any, SelectedOutput]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _roots(model: nn.Module) -> set[str]:
    return {cls.__module__.split(".", 1)[0] for cls in type(model).__mro__}


def _torchvision_aux(model: nn.Module) -> bool:
    """torchvision's GoogLeNet and Inception v3: ``(logits, aux...)`` in train mode."""
    return type(model).__module__.startswith("torchvision.models") and hasattr(model, "aux_logits")


def selects_by_default(model: nn.Module) -> bool:
    """Whether ``output=None`` needs a selection for this model: Hugging Face models (``.logits``) and
    torchvision's aux-output classifiers (their first output)."""
    return "transformers" in _roots(model) or _torchvision_aux(model)


class SelectedOutput(nn.Module):
    """``model`` returning one of its outputs; see the module docstring.

    Attributes
    ----------
    output : None, int or str
        The selection asked for.
    selected_output : None, int or str
        The key that picked the scores in the last call (``output=None`` resolved).
    """

    def __init__(self, model: nn.Module, output: int | str | None) -> None:
        super().__init__()
        object.__setattr__(self, "_wrapped", weakref.ref(model))
        # the model's own dictionaries: same submodules, parameters, buffers (and paths) as the model
        object.__setattr__(self, "_modules", model._modules)
        object.__setattr__(self, "_parameters", model._parameters)
        object.__setattr__(self, "_buffers", model._buffers)
        object.__setattr__(self, "_non_persistent_buffers_set", model._non_persistent_buffers_set)
        self.output = output
        self.selected_output = output
        self.model_name = type(model).__name__
        self.training = model.training
        self._default_index = _torchvision_aux(model)

    def wrapped(self) -> nn.Module:
        """The model whose output is selected."""
        model = self._wrapped()
        if model is None:  # pragma: no cover - the caller holds the model
            raise ModelError("the model this output selection belongs to no longer exists")
        return model

    def train(self, mode: bool = True) -> SelectedOutput:
        super().train(mode)
        self.wrapped().training = mode  # the model's own flag (GoogLeNet reads it in forward)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        returned = self.wrapped()(*args, **kwargs)
        value, key = select_output(returned, self.output, is_tensor=torch.is_tensor, shape_of=lambda t: t.shape,
                                   model=f"model {self.model_name!r}", default_index=self._default_index)
        self.selected_output = key
        return value

    def extra_repr(self) -> str:
        return f"{self.model_name}, output={self.output!r}"


def unwrap(model: nn.Module) -> nn.Module:
    """The model a :class:`SelectedOutput` selects from (other modules: themselves)."""
    return model.wrapped() if isinstance(model, SelectedOutput) else model


def with_output(model: nn.Module, output: int | str | None) -> nn.Module:
    """``model`` returning the class scores ``output`` selects (the model itself when there is nothing to select)."""
    output = check_output(output)
    model = unwrap(model)
    if output is None and not selects_by_default(model):
        return model
    with _LOCK:
        per_model = _WRAPPERS.setdefault(model, {})
        wrapper = per_model.get(output)
        if wrapper is None:
            wrapper = per_model[output] = SelectedOutput(model, output)
        return wrapper
