"""The checks shared by explainers and extractors against the model they run: its output selection, its
description (:class:`~xaikit.ModelSpec`) and the images it takes.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .configurable import Configurable
from .errors import XaikitError
from .registry import services_for
from .spec import ModelSpec
from .validation import as_numpy, check_images

__all__ = ["Described"]


class Described(Configurable):
    """Validation against the model's description, shared by explainers and extractors."""

    backend: ClassVar[str]

    @abc.abstractmethod
    def _describe(self, images: np.ndarray) -> ModelSpec:
        """The model's description for these (generically validated) images."""

    def _info(self) -> dict[str, Any]:
        """Provenance recorded in results (library versions)."""
        return {}

    def _bound_to_output(self) -> Described:
        """This object, or a shallow copy of it running the model with ``output=`` applied.

        A model returning several outputs is run through its framework's selection
        (:meth:`xaikit.services.ModelServices.with_output`: a module or model returning
        the chosen tensor, with the same layers); everything a method and an adapter do
        then sees one ``(N, K)`` output. The copy leaves this object as the user made it.
        """
        output = getattr(self, "output", None)
        if self.__dict__.get("_output_bound"):
            return self
        try:
            services = services_for(self.model)
        except XaikitError:
            if output is None:
                return self
            raise
        selected = services.with_output(self.model, output)
        if selected is self.model:
            return self
        run = copy.copy(self)
        run.model = selected
        run._output_bound = True
        return run

    def _effective_output(self) -> Any:
        """The selection that was applied (``output=None`` resolved to a default key when one applied)."""
        return getattr(self.model, "selected_output", getattr(self, "output", None))

    def _recorded(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters a result records: no resolved internals (``_x``); ``output`` only when a selection
        was applied (the key used, a default such as ``'logits'`` included)."""
        out = {k: v for k, v in params.items() if not k.startswith("_") and k != "output"}
        output = self._effective_output()
        if output is not None:
            out["output"] = output
        return out

    def _model_layout(self) -> str:
        """How the model takes a batch before any image is seen (for messages about the images' shape): the
        layout of the model's description without images, NHWC when that cannot be had."""
        try:
            return self._describe_static().layout
        except (XaikitError, NotImplementedError, AttributeError):
            return "NHWC"

    def _describe_static(self) -> ModelSpec:
        raise NotImplementedError

    def _checked_images(self, images: Any) -> tuple[np.ndarray, ModelSpec]:
        arr = as_numpy(images)
        if arr.ndim == 3:  # one image without its batch axis? The model's shape tells
            try:
                spec = self._describe(arr[None])
            except XaikitError:
                spec = None
            check_images(arr, expected_shape=None if spec is None else spec.input_shape,
                         layout=self._model_layout() if spec is None else spec.layout)
        x = check_images(arr, layout=self._model_layout()) if arr.ndim != 4 else check_images(arr)
        spec = self._describe(x)
        return check_images(x, expected_shape=spec.input_shape, layout=spec.layout), spec
