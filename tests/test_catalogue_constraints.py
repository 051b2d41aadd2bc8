"""Parameter constraints: every parameter of every method accepts its valid example and refuses its invalid one.

The constraints (:mod:`xaikit.catalogue.constraints`) check, describe themselves and give
examples; the property tests draw from the examples, so an example that its own check
refuses (or an invalid one it takes) would make them test nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.bench.toml_tables import choice, count
from xaikit.binding import get_method_class
from xaikit.catalogue import SHARED, Param
from xaikit.catalogue.constraints import Baseline, Images, LayerRef, Range
from xaikit.errors import InputError, MissingDependencyError
from xaikit.kernels.baselines import resolve_baseline
from xaikit.registry import list_methods
from xaikit.spec import LayerInfo, ModelSpec
from xaikit.validation import check_images

#: 2 x 2 one-channel images and a model with one (dense) layer: the context of the constraints needing one.
IMAGES = np.zeros((1, 2, 2, 1), np.float32)
SPEC = ModelSpec((2, 2, 1), 2, "linear", ("dense",), layer_info=(LayerInfo("dense", "dense", (2,)),))


def _tables() -> list[tuple[str, dict[str, Param]]]:
    out = []
    for record in list_methods():
        for backend in record.backends:
            try:
                out.append((f"{record.id}:{backend}", get_method_class(record.id, backend).param_table()))
            except MissingDependencyError:  # a backend whose library is not installed here
                continue
    return out


TABLES = _tables()


def _check_in_context(p: Param, value: object) -> None:
    """What the explainer does with a value of a constraint that needs the model or the images."""
    c = p.constraint
    if isinstance(c, LayerRef):
        if value is None:
            assert p.check(None) is None  # the method's default layer (or every layer)
        else:
            SPEC.check_layer(value, spatial=False, method="test")
    elif isinstance(c, Baseline):
        resolve_baseline(value, IMAGES, -1, name=p.name)
    elif isinstance(c, Images):
        check_images(value, expected_shape=IMAGES.shape[1:], name=p.name)
    else:  # pragma: no cover - a new contextual constraint needs its context here
        raise AssertionError(f"no context for {c!r}")


@pytest.mark.parametrize("where,table", TABLES, ids=[w for w, _ in TABLES])
def test_every_parameter_accepts_its_valid_example_and_refuses_its_invalid_one(where, table):
    for name, p in table.items():
        c = p.constraint
        assert c.name == name and c.describe() in p.describe_type()
        good, bad = c.valid_example(), c.invalid_example()
        if c.context_free:
            c.check(good)
            p.check(good)  # the parameter's check is the constraint's
            with pytest.raises(InputError, match=name):
                p.check(bad)
        else:
            assert c.check(bad) is bad  # passed through: the explainer decides with the model
            _check_in_context(p, good)
            with pytest.raises(InputError):
                _check_in_context(p, bad)


def test_the_catalogue_covers_every_kind_of_parameter():
    kinds = {p.kind for _, table in TABLES for p in table.values()}
    assert {"int", "float", "bool", "choice", "score", "pair", "seed", "layer", "baseline", "images"} <= kinds


@pytest.mark.parametrize("constraint,good,bad", [
    (Range("x", 0.0, 1.0, low_open=True), 0.5, 0.0), (Range("x", 0.0, 0.99), 0.0, -1.0),
    (Range("x", None, 2.0), 0.0, 3.0), (Range("x"), 0.0, float("nan")),
    (Range("n", 1, integer=True), 1, 0), (Range("n", 0, 2**32 - 1, integer=True), 0, -1),
    (Range("n", None, 5, integer=True), 0, 6), (Range("n", integer=True), 0, 0.5),
])
def test_range_examples_at_every_kind_of_end(constraint, good, bad):
    assert constraint.valid_example() == good and repr(constraint.invalid_example()) == repr(bad)  # nan != nan
    constraint.check(good)
    with pytest.raises(InputError, match=r"^x |^n "):
        constraint.check(bad)


def test_the_bench_settings_use_the_same_constraints():
    for setting in (count("repeats"), count("seed", 0), choice("warmup", ("none", "one"))):
        setting.check(setting.constraint.valid_example())
        with pytest.raises(InputError, match=setting.name):
            setting.check(setting.constraint.invalid_example())
    with pytest.raises(InputError, match="pool must be an integer >= 1; got 0. Why."):
        count("pool", why="Why.").check(0)


def test_describe_is_the_text_of_the_messages():
    assert SHARED["compactness"].describe_type() == "a number > 0"
    assert SHARED["steps"].describe_type() == "an integer >= 1"
    assert SHARED["channel_reduce"].describe_type() == "one of 'sum', 'abs_sum', 'max_abs'"
    with pytest.raises(InputError, match="compactness must be a finite number > 0; got 0."):
        SHARED["compactness"].check(0.0)
    with pytest.raises(InputError, match="steps cannot be None; it takes an integer >= 1."):
        SHARED["steps"].check(None)


@pytest.mark.parametrize("value", [{"index": -1}, {"input_of": True}, {"index": "3"}])
def test_a_suites_layer_index_is_the_catalogues_integer_range(value):
    from xaikit.bench.suite import ConfigError
    from xaikit.bench.toml_tables import toml_param_value

    assert toml_param_value({"input_of": 7}, "cell.params.layer", "suite.toml") == {"input_of": 7}
    with pytest.raises(ConfigError, match=r"suite.toml: cell.params.layer: (index|input_of) must be an integer >= 0"):
        toml_param_value(value, "cell.params.layer", "suite.toml")
