"""Validators under odd inputs: every value gives a result or an InputError, never a crash.

Regression tests for targets that recursed (``2.0``, ``"circle"``, ``np.float64(1)``) or
overflowed (``2**70``), text read as a true bool (``relu="False"``), and the same class
of problem in the other validators (huge ints, NumPy scalars, 0-d arrays, strings).
"""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.errors import InputError
from xaikit.validation import (
    MAX_INT,
    check_bool,
    check_choice,
    check_nonnegative_float,
    check_pair,
    check_positive_int,
    check_seed,
    check_targets,
    parse_bool_text,
)

#: Values that are neither a valid count, nor a valid class index, nor a valid bool.
ODD = [2.0, np.float64(1), "circle", "3", b"3", None, [], [[1]], {"a": 1}, object(), float("nan"), float("inf"),
       2**70, -(2**70), np.array("a"), np.array(2.5), np.array([1, 2, 3]), 1 + 2j, np.uint64(2**63)]


@pytest.mark.parametrize("value", ODD, ids=repr)
def test_every_validator_raises_input_error_on_odd_values(value):
    for check in (lambda v: check_targets(v, 1, 10), lambda v: check_positive_int("n", v),
                  lambda v: check_pair("patch_size", v), check_seed, lambda v: check_bool("relu", v)):
        if value is None and check is check_seed:
            continue  # None draws a seed
        with pytest.raises(InputError):
            check(value)


class TestTargets:
    @pytest.mark.parametrize("value", [2.0, np.float64(1), np.float32(3)])
    def test_integral_floats_are_refused_with_the_cast_as_hint(self, value):
        with pytest.raises(InputError, match=r"float.*int\("):
            check_targets(value, 1, 10)

    @pytest.mark.parametrize("value", ["circle", np.str_("tabby"), ["cat", "dog"]])
    def test_class_names_point_to_the_label_list_and_the_cli(self, value):
        with pytest.raises(InputError, match="--labels"):
            check_targets(value, 2, 10)

    @pytest.mark.parametrize("value", [2**70, [2**70], np.array([2**63], np.uint64), [3, 2**64]])
    def test_huge_indices_are_out_of_range_not_overflow(self, value):
        with pytest.raises(InputError, match="out of range"):
            check_targets(value, 1 if np.ndim(value) == 0 or len(value) == 1 else 2, 10)
        with pytest.raises(InputError, match="not a class index"):  # unknown class count
            check_targets(value, 1 if np.ndim(value) == 0 or len(value) == 1 else 2, None)

    def test_huge_unsigned_does_not_wrap_to_a_valid_index(self):
        with pytest.raises(InputError, match="out of range"):
            check_targets(np.array([2**64 - 1], np.uint64), 1, 10)  # int64 cast would give -1

    def test_zero_d_integer_arrays_and_numpy_ints(self):
        assert check_targets(np.array(3), 2, 5).tolist() == [3, 3]
        assert check_targets(np.int8(4), 1, 5).tolist() == [4]
        assert check_targets(np.array([1, 2], np.uint8), 2, 5).tolist() == [1, 2]

    def test_none_and_nan_entries_are_named(self):
        with pytest.raises(InputError, match=r"targets\[1\]"):
            check_targets([0, None], 2, 5)
        with pytest.raises(InputError, match=r"targets\[0\]"):
            check_targets([np.nan], 1, 5)

    def test_several_targets_for_one_image_say_how(self):
        with pytest.raises(InputError, match=r"np.repeat\(images, 2, axis=0\)"):
            check_targets([281, 285], 1, 1000)


class TestBool:
    @pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False), np.array(True)])
    def test_bools_pass(self, value):
        assert check_bool("relu", value) is bool(value)

    @pytest.mark.parametrize("value", ["False", "no", "true", "", 0, 1, 0.0, None, [False]])
    def test_anything_else_names_the_parameter(self, value):
        with pytest.raises(InputError, match="relu must be True or False"):
            check_bool("relu", value)

    def test_text_gets_the_bool_it_spells(self):
        with pytest.raises(InputError, match="Pass False"):
            check_bool("relu", "False")

    @pytest.mark.parametrize("text,expected", [("true", True), ("False", False), ("YES", True), ("no", False),
                                               ("1", True), ("0", False), (' "false" ', False)])
    def test_command_line_words(self, text, expected):
        assert parse_bool_text("relu", text) is expected

    @pytest.mark.parametrize("text", ["", "nope", "2", "truee", "none"])
    def test_other_words_are_errors_naming_the_parameter(self, text):
        with pytest.raises(InputError, match="relu takes true or false"):
            parse_bool_text("relu", text)


def test_counts_are_bounded_to_int32():
    assert check_positive_int("steps", MAX_INT) == MAX_INT
    with pytest.raises(InputError, match="at most"):
        check_positive_int("steps", MAX_INT + 1)
    with pytest.raises(InputError, match="at most"):
        check_pair("patch_size", (2, 2**70))
    assert check_positive_int("n", np.array(4)) == 4 and check_positive_int("n", np.uint16(4)) == 4


def test_pairs_accept_numpy_pairs():
    assert check_pair("patch_size", np.array([2, 3])) == (2, 3)
    assert check_pair("patch_size", np.int64(4)) == (4, 4)
    with pytest.raises(InputError):
        check_pair("patch_size", np.array([2.0, 3.0]))


def test_seeds_are_below_2_32_on_every_backend():
    assert check_seed(2**32 - 1) == 2**32 - 1 and check_seed(np.array(7)) == 7
    with pytest.raises(InputError, match=r"\[0, 2\*\*32\)"):
        check_seed(2**32)


def test_huge_floats_are_not_finite():
    with pytest.raises(InputError, match="finite"):
        check_nonnegative_float("noise", 10**400)
    assert check_nonnegative_float("noise", np.array(0.25)) == 0.25


def test_choices_compare_safely():
    with pytest.raises(InputError, match="one of"):
        check_choice("score", np.array(["logit", "output"]), ("logit", "output"))
    with pytest.raises(InputError, match="one of"):
        check_choice("score", ["logit"], ("logit", "output"))
    assert check_choice("score", "logit", ("logit", "output")) == "logit"


def test_metric_bools_refuse_text():
    """The same class as relu="False": a metric flag given as text was read as True."""
    from xaikit.metrics import agreement

    maps = np.random.default_rng(0).normal(size=(2, 6, 6)).astype(np.float32)
    for call in (lambda v: agreement.spearman(maps, -maps, absolute=v),
                 lambda v: agreement.topk_iou(maps, -maps, absolute=v),
                 lambda v: agreement.ssim(maps, -maps, normalize=v)):
        with pytest.raises(InputError, match="must be True or False"):
            call("no")
        call(np.bool_(False))


@pytest.mark.parametrize("baseline", ["black", np.array(["0", "0", "0"]), np.array([b"0"])])
def test_a_colour_name_baseline_says_how_to_get_the_colour(baseline):
    """``baseline='black'`` was a raw NumPy ValueError: a colour depends on the preprocessing, and the error says how
    to compute it (and that the CLI's --baseline black does)."""
    from xaikit.kernels import broadcast_baseline

    with pytest.raises(InputError, match="depends on the preprocessing.*--baseline black"):
        broadcast_baseline(baseline, (4, 4, 3), name="baseline")
