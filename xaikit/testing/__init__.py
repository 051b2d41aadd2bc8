"""A conformance suite for xaikit backends, in the spirit of scikit-learn's ``check_estimator``.

Every backend in the repository runs it (``tests/test_conformance.py``), and a third party
runs it on its own backend: give a :class:`ModelFactory` that builds two tiny models in
your framework, then call the checks::

    from xaikit.testing import ModelFactory, conformance_checks

    class MyFactory(ModelFactory):
        layout = "NCHW"
        def linear(self, weights, bias, activation): ...   # f(x) = act(W . x + b)
        def cnn(self): ...                                   # (model, layer name)

    @pytest.mark.parametrize("check", conformance_checks("mybackend", MyFactory()), ids=str)
    def test_conformance(check):
        check()

What is checked, for every method the backend offers (``xaikit.list_methods``):

- **contract**: an :class:`~xaikit.Explanation` with float32 ``(N, H, W)`` finite maps,
  int64 targets and predictions, the model's outputs, the effective parameters and the
  layout recorded; explicit targets (an int, one per image) are honoured; an
  out-of-range target is an :class:`~xaikit.InputError`;
- **score functions** (:mod:`xaikit.targets`): a backend either explains one -- the
  score function ``outputs[:, 1]`` gives the maps of class 1 with ``score="output"``,
  and the result records the function (``target``), no class (``targets`` -1) -- or
  refuses it with an :class:`~xaikit.InputError` (``score_function_refusal``);
- **batch-size invariance**: ``batch_size=1`` gives the maps of ``batch_size=64``, for
  classes and for a score function;
- **seeds** (random methods): the same seed gives the same maps, another seed other
  maps, ``seed=None`` records the seed it drew (and it reproduces the maps of a score
  function), and NumPy's global random state is not touched;
- **threads**: four threads explaining one model give the sequential results, one of
  them explaining a score function;
- **references** (native backends): on a linear model ``f(x) = W x + b`` the methods
  have closed forms -- vanilla gradients ``W_t``, gradient x input ``x W_t``,
  integrated gradients ``(x - b) W_t`` for every quadrature rule, SmoothGrad ``W_t``,
  expected gradients with one reference ``(x - r) W_t``, occlusion the patch share of
  ``W_t (x - baseline)``, guided backpropagation and deconvnet refused with a
  :class:`~xaikit.ModelError` naming ``vanilla_gradients`` (no ReLU to modify: they would be
  the gradient under another name), VarGrad 0 and SquareGrad ``W_t^2`` (a constant gradient), KernelSHAP and
  LIME without ridge the sum of ``W_t (x - baseline)`` over each segment, RISE keeping
  every pixel ``f_t(x)`` everywhere, Sobol Jansen's estimator of the additive model on
  the same designs -- compared with the NumPy kernels of the core.

The package by job: :mod:`.factory` (the models' factory, the check type, the canonical
shapes), :mod:`.runner` (which checks a backend gets, with the suite's settings),
:mod:`.checks` (the contract, batch-size, seed and thread checks), :mod:`.references`
(the closed forms on a linear model).
"""

from __future__ import annotations

from .factory import IMAGE_SHAPE, N_CLASSES, Check, ModelFactory
from .runner import conformance_checks
from .runner import iter_checks as iter_checks  # a convenience, not in __all__ (as before)

__all__ = ["ModelFactory", "Check", "conformance_checks", "IMAGE_SHAPE", "N_CLASSES"]
