"""``output=``: the class scores of models returning a tuple, a dict, an object or several Keras outputs."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import InputError, ModelError
from xaikit.outputs import check_output, describe_returned, select_output


def _is_array(value):
    return isinstance(value, np.ndarray)


class _Out:
    def __init__(self, logits, hidden):
        self.logits, self.hidden = logits, hidden


def test_select_output_by_index_key_attribute_and_defaults():
    a, b = np.zeros((2, 3)), np.ones((2, 4))
    assert select_output((a, b), 1, is_tensor=_is_array)[0] is b
    assert select_output({"x": a, "y": b}, "y", is_tensor=_is_array)[0] is b
    assert select_output(_Out(a, b), "hidden", is_tensor=_is_array)[0] is b
    assert select_output(_Out(a, b), None, is_tensor=_is_array) == (a, "logits")  # Hugging Face's rule
    aux = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])(a, b, b)
    assert select_output(aux, None, is_tensor=_is_array) == (aux.logits, "logits")
    assert select_output((a, b), None, is_tensor=_is_array, default_index=True) == (a, 0)
    assert select_output(a, None, is_tensor=_is_array) == (a, None)


def test_select_output_errors_list_what_the_model_returned():
    a, b = np.zeros((2, 3)), np.ones((2, 4))
    with pytest.raises(ModelError, match=r"a tuple of 2: \[0\] tensor \(N, 3\), \[1\] tensor \(N, 4\).*output="):
        select_output((a, b), None, is_tensor=_is_array, shape_of=np.shape)
    with pytest.raises(InputError, match=r"output='z' selects nothing.*\['x'\] tensor"):
        select_output({"x": a}, "z", is_tensor=_is_array, shape_of=np.shape)
    with pytest.raises(InputError, match="leave output=None"):
        select_output(a, 0, is_tensor=_is_array)
    with pytest.raises(ModelError, match="selects a str"):
        select_output({"x": "text"}, "x", is_tensor=_is_array)
    for bad in (-1, 1.5, True, ""):
        with pytest.raises(InputError, match="output must be"):
            check_output(bad)
    assert describe_returned(tuple(np.zeros(1) for _ in range(20)), _is_array).endswith("[11] tensor, ... (8 more)")


# ------------------------------------------------------------------------------------------ PyTorch
@pytest.fixture(scope="module")
def torch_pair():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Body(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 5)
            self.aux = nn.Linear(4, 2)

        def features(self, x):
            return torch.relu(self.conv(x)).mean((2, 3))

    class Plain(Body):
        def forward(self, x):
            return self.fc(self.features(x))

    class Dict(Body):
        def forward(self, x):
            h = self.features(x)
            return {"aux": self.aux(h), "scores": self.fc(h)}

    class Aux(Body):  # torchvision's GoogLeNet in train mode
        def forward(self, x):
            h = self.features(x)
            return namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])(self.fc(h), h, h)

    torch.manual_seed(0)
    plain = Plain().eval()
    others = [cls().eval() for cls in (Dict, Aux)]
    for other in others:
        other.load_state_dict(plain.state_dict())
    x = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    return plain, others[0], others[1], x


def test_torch_dict_output_needs_a_selection_and_lists_the_outputs(torch_pair):
    _, dict_model, _, x = torch_pair
    with pytest.raises(ModelError, match=r"returns a dict of 2: \['aux'\] tensor \(N, 2\), \['scores'\] tensor "
                                         r"\(N, 5\).*output="):
        xk.explain(dict_model, x, "gradcam")


@pytest.mark.parametrize("backend", ["torch", "captum", "pytorch-grad-cam"])
def test_torch_selected_output_explains_as_the_plain_model(torch_pair, backend):
    plain, dict_model, _, x = torch_pair
    ref = xk.explain(plain, x, "gradcam", backend=backend)
    got = xk.explain(dict_model, x, "gradcam", backend=backend, output="scores")
    np.testing.assert_allclose(got.attributions, ref.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.outputs, ref.outputs, rtol=1e-6)
    assert got.params["output"] == "scores" and got.layer == ref.layer == "conv"  # the model's own layer paths
    assert "output" not in ref.params  # recorded only when a selection applied


def test_torch_output_reaches_every_kind_of_method(torch_pair):
    plain, dict_model, aux_model, x = torch_pair
    for method, params in [("vanilla_gradients", {}), ("occlusion", {"patch_size": 6}), ("ablationcam", {}),
                           ("integrated_gradients", {"steps": 4})]:
        ref = xk.explain(plain, x, method, **params)
        got = xk.explain(dict_model, x, method, output="scores", **params)
        np.testing.assert_allclose(got.attributions, ref.attributions, rtol=1e-5, atol=1e-6, err_msg=method)
    shap = xk.explain(dict_model, x, "expected_gradients", backend="shap", output="scores", background=x, n_samples=4,
                      seed=0)
    assert shap.params["output"] == "scores" and shap.outputs.shape == (2, 5)
    acts = xk.get_extractor(dict_model, output="scores", layers="conv").extract(x)
    assert acts.params["output"] == "scores" and acts.outputs.shape == (2, 5)
    ref = xk.explain(plain, x, "gradcam").attributions
    for output in ("logits", 0):  # a namedtuple (torchvision's GoogLeNetOutputs) by field name or index
        np.testing.assert_allclose(xk.explain(aux_model, x, "gradcam", output=output).attributions, ref, rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(ModelError, match=r"returns a GoogLeNetOutputs of 3: \['logits'\]"):
        xk.explain(aux_model, x, "gradcam")  # defaults are for the libraries' classes (below), not any module
    assert dict_model.training is False and not hasattr(dict_model, "selected_output")  # the user's model untouched


def test_torchvision_aux_classifier_selects_its_logits_by_default():
    torchvision = pytest.importorskip("torchvision")
    from xaikit_torch.outputs import SelectedOutput, with_output

    net = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False, num_classes=4).train()
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    wrapped = with_output(net, None)
    assert isinstance(wrapped, SelectedOutput) and with_output(net, None) is wrapped
    assert dict(wrapped.named_parameters()).keys() == dict(net.named_parameters()).keys()
    exp = xk.explain(net, x, "gradcam")
    assert exp.layer == "inception5b" and exp.outputs.shape == (1, 4)
    assert net.training and all(m.training for m in net.modules())  # train mode given back


def test_cli_model_output_option_becomes_the_output_parameter():
    from xaikit.cli._common import method_params
    from xaikit.cli._params import check_param_items

    assert method_params({"model_output": "1"}, None)["output"] == 1
    assert method_params({"model_output": "logits"}, None)["output"] == "logits"
    check_param_items(["output"], {"output": "out.png"})  # -o is not --model-output
    with pytest.raises(InputError, match="--model-output and --param output"):
        check_param_items(["output"], {"model_output": "1"})


# ------------------------------------------------------------------------------------------ Keras
def test_keras_model_with_several_outputs(keras):
    rng = np.random.default_rng(1)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, name="conv")(inp)
    g = keras.layers.GlobalAveragePooling2D()(h)
    aux = keras.layers.Dense(2, name="aux")(g)
    scores = keras.layers.Dense(5, activation="softmax", name="scores")(g)
    two = keras.Model(inp, [aux, scores])
    one = keras.Model(inp, scores)
    x = rng.random((2, 12, 12, 3), dtype=np.float32)
    with pytest.raises(ModelError, match=r"2 outputs: \[0\] 'aux' \(N, 2\), \[1\] 'scores' \(N, 5\).*output="):
        xk.explain(two, x, "gradcam")
    ref = xk.explain(one, x, "gradcam")
    for output in (1, "scores"):
        got = xk.explain(two, x, "gradcam", output=output)
        np.testing.assert_allclose(got.attributions, ref.attributions, rtol=1e-5, atol=1e-6)
        assert got.params["output"] == output and got.layer == "conv" and got.score == "logit"
    keyed = keras.Model(inp, {"a": aux, "s": scores})
    np.testing.assert_allclose(xk.explain(keyed, x, "gradcam", output="s").attributions, ref.attributions,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"output='zz' selects nothing.*\['a'\] tensor"):
        xk.explain(keyed, x, "gradcam", output="zz")
    assert xk.explain(two, x, "gradcam", output=1, backend="tf-explain").params["output"] == 1
