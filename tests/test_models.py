"""Models: parameter counts against references, forward/backward over the whole grid, SE math,
and SELU self-normalisation under the project's init."""

import pytest
import torch
import torchvision
from torch import nn

from se_train.errors import UserError
from se_train.models.catalog import model_names
from se_train.models.layers import SqueezeExcite, init_weights
from se_train.models.registry import build_model, count_parameters


def test_resnet50_matches_torchvision_parameter_count():
    ours = build_model("resnet50", num_classes=1000, input_shape=(3, 224, 224), activation="relu", se=False)
    assert count_parameters(ours) == count_parameters(torchvision.models.resnet50()) == 25_557_032


def test_se_resnet50_has_the_se_paper_parameter_count():
    model = build_model("resnet50", num_classes=1000, input_shape=(3, 224, 224), activation="relu", se=True, se_reduction=16)
    assert count_parameters(model) == 28_088_024  # SE paper, Table: SE-ResNet-50 28.1 M


def test_simple_cnn_se_has_16_hidden_units_as_the_study():
    model = build_model("simple_cnn", num_classes=10, input_shape=(1, 28, 28), activation="relu", se=True)
    se = [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    assert len(se) == 1 and se[0].fc1.out_features == 16 and se[0].fc1.in_features == 64


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 24), (3, 128, 128)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("se", [False, True], ids=["plain", "se"])
@pytest.mark.parametrize("activation", ["relu", "selu"])
@pytest.mark.parametrize("name", model_names())
def test_forward_backward(name, activation, se, shape):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, input_shape=shape, activation=activation, se=se)
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(isinstance(m, SqueezeExcite) for m in model.modules()) == se
    act = nn.SELU if activation == "selu" else nn.ReLU
    assert any(isinstance(m, act) for m in model.modules())


def test_every_built_in_model_option_is_a_training_field():
    from se_train.trial_config import TrialConfig
    from se_train.models.catalog import list_models

    options = {o for model in list_models() if isinstance(model.builder, str) for o in model.options}
    assert options == {"se_reduction", "stem", "head", "zero_init_last_bn"}
    assert options <= set(TrialConfig.model_fields)  # so a sweep file can set each one


def test_each_built_in_registers_the_options_its_function_takes():
    import inspect

    from se_train.models import catalog, layers

    for model in catalog.list_models():  # a built-in registers by its place, without importing torch
        taken = tuple(p for p in inspect.signature(model.build()).parameters if p not in catalog.GIVEN)
        assert taken == model.options, model.name
    built = {name: (catalog.get_activation(name).build(), catalog.get_activation(name).init) for name in catalog.activation_names()[:3]}
    assert built == {"relu": (nn.ReLU, "he"), "selu": (nn.SELU, "lecun"), "study_selu": (layers.StudySELU, "lecun")}


def test_an_activation_of_ones_own_is_built_initialised_as_registered_and_refused_when_unclear(monkeypatch):
    from se_train.errors import UserError
    from se_train.models import catalog, register_activation
    from se_train.models.registry import build_model

    monkeypatch.setattr(catalog, "_ACTIVATIONS", dict(catalog._ACTIVATIONS))  # this test's activations stay its own

    class Shifted(nn.Module):  # a self-normalising unit of one's own: LeCun-initialised layers before it
        def forward(self, x):
            return torch.selu(x)

    register_activation(Shifted, init="lecun")
    assert "shifted" in catalog.activation_names() and "shifted" in catalog.get_model("simple_cnn").supported()
    torch.manual_seed(0)
    model = build_model("simple_cnn", num_classes=10, input_shape=(1, 28, 28), activation="shifted", se=False)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    fan_in = conv.weight[0].numel()
    assert any(isinstance(m, Shifted) for m in model.modules())
    assert conv.weight.std().item() == pytest.approx(fan_in ** -0.5, rel=0.15)  # LeCun normal: variance 1/fan_in
    with pytest.raises(UserError, match="init 'xavier' is not one of he, lecun"):
        register_activation(nn.GELU, name="gelu2", init="xavier")
    with pytest.raises(UserError, match="activation 'shifted' is registered twice"):
        register_activation(nn.GELU, name="shifted")
    with pytest.raises(UserError, match=r"activations \['swish'\] are not one of .*register_activation them first"):
        catalog.register_model("x:y", name="needs_swish", activations=("swish",), options=())


def test_checking_a_sweep_and_reporting_import_no_torch():
    import subprocess
    import sys

    code = "import sys, se_train.sweep_file, se_train.report.summary; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_resnet_stem_and_head_options():
    kw = dict(num_classes=10, input_shape=(3, 32, 32), activation="relu", se=False)
    cifar = build_model("resnet50", stem="cifar", **kw)
    assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert not any(isinstance(m, nn.MaxPool2d) for m in cifar.modules())
    study = build_model("resnet50", head="study", **kw)
    assert [m.out_features for m in study.head if isinstance(m, nn.Linear)] == [512, 256, 10]


def test_zero_init_last_bn_makes_blocks_start_as_identity_branch():
    model = build_model("resnet50", num_classes=10, input_shape=(3, 224, 224), activation="relu", se=False, zero_init_last_bn=True)
    bn3 = [b.bn3.weight for stage in model.stages for b in stage]
    assert len(bn3) == 16 and all((w == 0).all() for w in bn3)
    default = build_model("resnet50", num_classes=10, input_shape=(3, 224, 224), activation="relu", se=False)
    assert (default.stages[0][0].bn3.weight == 1).all()


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"])
def test_squeeze_excite_equals_the_formula_forward_and_backward(memory_format):
    torch.manual_seed(0)
    se = SqueezeExcite(32, reduction=4)
    x = torch.randn(3, 32, 5, 6).contiguous(memory_format=memory_format).requires_grad_()
    grad = torch.randn(3, 32, 5, 6)

    def reference(x, w1, b1, w2, b2):  # the SE paper's equations, written out
        z = x.mean(dim=(2, 3))
        s = torch.sigmoid(w2 @ torch.relu(w1 @ z.T + b1[:, None]) + b2[:, None])
        return x * s.T[:, :, None, None]

    params = [se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias]
    ours = se(x)
    ours_grads = torch.autograd.grad(ours, [x, *params], grad)
    ref = reference(x, *params)
    ref_grads = torch.autograd.grad(ref, [x, *params], grad)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for name, a, b in zip(["x", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], ours_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=lambda m: f"grad of {name}: {m}")
    assert ours.is_contiguous(memory_format=memory_format)  # the layout the convs around it run in


def _selu_stack_stats(policy: type[nn.Module]) -> tuple[float, float]:
    """A deep SELU stack initialised by se_train's policy for the activation `policy`."""
    torch.manual_seed(0)
    stack = nn.Sequential(*[m for _ in range(32) for m in (nn.Linear(256, 256), nn.SELU())])
    init_weights(stack, policy)
    with torch.no_grad():
        h = stack(torch.randn(4096, 256))
    return h.mean().item(), h.var().item()


def test_selu_self_normalises_with_lecun_init():
    mean, var = _selu_stack_stats(nn.SELU)
    assert abs(mean) < 0.1 and 0.8 <= var <= 1.2, (mean, var)


def test_the_init_follows_the_activation_selu_under_relus_init_does_not_self_normalise():
    # ReLU's He init (variance 2/fan_in) on a SELU stack: the policy, not SELU, normalises.
    mean, var = _selu_stack_stats(nn.ReLU)
    assert not (abs(mean) < 0.1 and 0.8 <= var <= 1.2), (mean, var)


def test_study_selu_is_selu_forward_but_its_gradient_is_nan_above_88():
    from se_train.models.layers import StudySELU

    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(StudySELU()(x), nn.SELU()(x), atol=1e-3, rtol=1e-4)  # rounded constants
    big = torch.tensor([1.0, 100.0], requires_grad=True)  # exp(100) is inf in float32
    StudySELU()(big).sum().backward()
    assert torch.isnan(big.grad[1]) and big.grad[0] == pytest.approx(1.0507)
    ours = big.detach().clone().requires_grad_()
    nn.SELU()(ours).sum().backward()
    assert torch.isfinite(ours.grad).all()


def test_study_selu_gets_lecun_init_as_selu():
    def first_conv(activation):
        torch.manual_seed(0)
        return build_model("simple_cnn", num_classes=10, input_shape=(1, 28, 28), activation=activation, se=False).features[0]

    torch.testing.assert_close(first_conv("study_selu").weight, first_conv("selu").weight)


def test_unknown_names_are_user_errors():
    with pytest.raises(UserError, match="'resnet18' is not one of simple_cnn, resnet50"):
        build_model("resnet18", num_classes=10, input_shape=(1, 28, 28), activation="relu", se=False)
    with pytest.raises(UserError, match="'selux' is not one of relu, selu"):
        build_model("simple_cnn", num_classes=10, input_shape=(1, 28, 28), activation="selux", se=False)
    with pytest.raises(UserError, match="stem 'tiny'"):
        build_model("resnet50", num_classes=10, input_shape=(1, 28, 28), activation="relu", se=False, stem="tiny")
    with pytest.raises(UserError, match="at least 8 x 8 px, got 4 x 4"):
        build_model("simple_cnn", num_classes=10, input_shape=(1, 4, 4), activation="relu", se=False)


def test_bench_model_times_both_resnets_and_states_the_se_cost():
    import re

    from se_train.bench.model import bench_model

    out = bench_model(image_size=32, batch=2, steps=1, warmup=1, rounds=1, profile=True)
    rows = dict(re.findall(r"^(torchvision resnet50|ResNet-50|SE-ResNet-50)\s*:\s*[\d,.]+ images/s, ([\d,]+) parameters", out, re.M))
    # The published counts (1000 classes): the rows time the models they name.
    assert rows == {"torchvision resnet50": "25,557,032", "ResNet-50": "25,557,032", "SE-ResNet-50": "28,088,024"}
    assert re.search(r"ResNet-50 / torchvision\s*:\s*[\d.]+ x", out) and re.search(r"SE costs \(eager\)\s*:\s*-?[\d.]+ %", out)
    assert "32x32 synthetic, batch 2" in out
    # The profile: ops by the time SE adds, most first; SE's two Linear layers per block show as
    # 32 more addmm calls per step (16 blocks).
    profile = re.findall(r"^(.{60}) +([\d.]+) -> ([\d.]+)\s+[\d.]+ -> [\d.]+\s+([+-][\d.]+)$", out.split("extra time goes")[1], re.M)
    *ops, (total, plain_calls, se_calls, _) = profile
    adds = [float(a) for *_, a in ops]
    assert len(ops) == 15 and adds == sorted(adds, reverse=True)
    calls = {op.strip(): (float(plain), float(se)) for op, plain, se, _ in ops}
    assert calls["aten::addmm"] == (1, 33) and any(se > plain for plain, se in calls.values())
    assert total.strip() == "all" and float(se_calls) > float(plain_calls)
