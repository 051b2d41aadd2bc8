"""Parameters declared in the catalogue and stored by the constructor, scikit-learn style.

:class:`Configurable` is the base of explainers and activation extractors: its
parameters are the catalogue's (:data:`~xaikit.catalogue.COMMON_PARAMS` and the method's
own) with the class's ``param_changes`` applied; ``get_params`` / ``set_params`` read and
change them; unknown names are refused with the list of valid ones.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from .catalogue import COMMON_PARAMS, MethodSchema, Param, get_method, param_table
from .errors import InputError

__all__ = ["Configurable", "param_table_of"]


class Configurable:
    """Parameters declared as :class:`~xaikit.catalogue.Param` s, stored by the constructor.

    Subclasses name their method (``method``); their parameters are the catalogue's
    (:data:`~xaikit.catalogue.COMMON_PARAMS` and the method's own) with the class's
    ``param_changes`` applied: another default, a backend-only parameter (under its own
    name when its meaning differs), or ``None`` for a parameter the backend does not take.
    """

    method: ClassVar[str]
    base_params: ClassVar[tuple[Param, ...]] = COMMON_PARAMS
    param_changes: ClassVar[Mapping[str, Param | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("method", getattr(cls, "method", None)), str):
            params = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
                       for name, p in cls.param_table().items()]
            cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]

    def __init__(self, model: Any, **params: Any) -> None:
        table = self.param_table()
        self.check_param_names(params)
        self.model = model
        for name, p in table.items():
            setattr(self, name, params.get(name, p.default))

    @classmethod
    def schema(cls) -> MethodSchema:
        """The method's catalogue entry."""
        return get_method(cls.method)

    @classmethod
    def param_table(cls) -> dict[str, Param]:
        """name -> :class:`~xaikit.catalogue.Param` of every parameter this class takes."""
        return param_table_of(cls)

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword parameters of the constructor (``model`` excluded)."""
        return list(cls.param_table())

    @classmethod
    def check_param_names(cls, names: Iterable[str]) -> None:
        """Raise :class:`~xaikit.InputError` naming the parameters this class does not take, and those it does.

        The one check of parameter names: the constructor, :meth:`set_params` and
        :func:`xaikit.get_explainer` use it.
        """
        table = cls.param_table()
        unknown = [name for name in names if name not in table]
        if unknown:
            raise InputError(f"{cls._label()} has no parameter(s) {', '.join(map(repr, unknown))}; its parameters "
                             f"are: {', '.join(table)}")

    @classmethod
    def _label(cls) -> str:
        return f"{cls.method!r} ({getattr(cls, 'backend', '?')})"

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to the constructor (not resolved)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> Configurable:
        """Change parameters; unknown names raise with the list of valid ones."""
        self.check_param_names(params)
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"


@functools.cache
def param_table_of(cls: type) -> dict[str, Param]:
    """name -> :class:`~xaikit.catalogue.Param` of every parameter ``cls`` takes (the catalogue's, with its
    ``param_changes``), computed once per class."""
    schema = get_method(cls.method)
    return param_table((*cls.base_params, *schema.params), cls.param_changes)
