"""Tests for ebtheory.models: the formulas of docs/theory.md section 1, seeding, shapes and the size counters."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ebtheory.models import (
    DeepMLP,
    MeanFieldTwoLayer,
    ResidualCNN,
    TwoLayerNTK,
    count_macs,
    count_parameters,
)

two_layer_shapes = st.tuples(
    st.integers(1, 6),  # d
    st.integers(1, 12),  # width N
    st.integers(1, 4),  # outputs C
    st.integers(1, 7),  # m
    st.integers(0, 2**31 - 1),  # seed
)


def _loop_two_layer(W: torch.Tensor, out: torch.Tensor, x: torch.Tensor, scale: float) -> torch.Tensor:
    """scale * sum_r out_r relu(w_r . x), one neuron at a time."""
    total = torch.zeros(x.shape[0], out.shape[1], dtype=torch.float64)
    for r in range(W.shape[0]):
        total += torch.relu(x.double() @ W[r].double())[:, None] * out[r].double()[None, :]
    return scale * total


@given(two_layer_shapes, st.floats(0.05, 3.0), st.sampled_from(["signs", "vectors"]))
def test_ntk_forward_is_du_et_al_formula_and_readout_is_exact(shape, kappa, mode):
    d, width, outputs, m, seed = shape
    model = TwoLayerNTK(d, width, outputs, kappa=kappa, output_mode=mode, seed=seed)
    x = torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    y = model(x)
    output_weights, bias = model.readout()
    assert bias is None
    assert torch.equal(y, model.hidden(x) @ output_weights)
    expected = _loop_two_layer(model.input_weights.detach(), model.output_signs, x, 1 / math.sqrt(width))
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)
    # GFS atoms g_r = N * H[:, r] (x) W2[r] are sqrt(N) a_r relu(X w_r), and their mean is the output.
    atoms = width * model.hidden(x)[:, :, None] * output_weights[None, :, :]
    assert torch.allclose(atoms.mean(dim=1), y, rtol=1e-5, atol=1e-5)


@given(two_layer_shapes, st.sampled_from(["signs", "vectors"]))
def test_ntk_output_weights_are_signs_or_unit_vectors_and_only_w_trains(shape, mode):
    d, width, outputs, _m, seed = shape
    model = TwoLayerNTK(d, width, outputs, output_mode=mode, seed=seed)
    a = model.output_signs
    assert a.shape == (width, outputs)
    if mode == "signs":
        assert set(a.unique().tolist()) <= {-1.0, 1.0}
    else:
        torch.testing.assert_close(a.norm(dim=1), torch.ones(width))
    assert [name for name, _ in model.named_parameters()] == ["input_weights"]
    assert model.input_weights.shape == (width, d)


def test_ntk_sign_columns_are_independent_and_init_has_std_kappa():
    model = TwoLayerNTK(50, 4000, outputs=2, kappa=0.3, seed=5)
    a = model.output_signs
    assert abs(float(a.mean())) < 0.05
    assert abs(float((a[:, 0] * a[:, 1]).mean())) < 0.05  # independent columns, not one sign per neuron
    assert float(model.input_weights.detach().std()) == pytest.approx(0.3, rel=0.02)
    assert float(model.input_weights.detach().mean()) == pytest.approx(0.0, abs=0.01)


@given(two_layer_shapes)
def test_mean_field_forward_is_formula_and_readout_is_exact(shape):
    d, width, outputs, m, seed = shape
    model = MeanFieldTwoLayer(d, width, outputs, seed=seed)
    x = torch.randn(m, d, generator=torch.Generator().manual_seed(seed))
    y = model(x)
    output_weights, bias = model.readout()
    assert bias is None
    assert torch.equal(y, model.hidden(x) @ output_weights)
    expected = _loop_two_layer(model.input_weights.detach(), model.output_weights.detach(), x, 1 / width)
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)
    assert float(model.output_weights.detach().abs().max()) <= 1.0
    assert {name for name, _ in model.named_parameters()} == {"input_weights", "output_weights"}


@pytest.mark.parametrize(
    "build",
    [
        lambda seed: TwoLayerNTK(4, 6, 2, seed=seed),
        lambda seed: MeanFieldTwoLayer(4, 6, 2, seed=seed),
        lambda seed: DeepMLP(4, [5, 3], 2, seed=seed),
        lambda seed: ResidualCNN(1, 3, 8, widths=(2, 3), seed=seed),
    ],
)
def test_construction_is_seeded_and_leaves_global_rng_alone(build):
    state = torch.random.get_rng_state()
    first, again, other = build(7), build(7), build(8)
    assert torch.equal(state, torch.random.get_rng_state())
    same = first.state_dict()
    assert all(torch.equal(same[k], v) for k, v in again.state_dict().items())
    assert any(not torch.equal(same[k], v) for k, v in other.state_dict().items())


@given(
    st.integers(1, 5),
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
    st.integers(1, 4),
    st.integers(0, 1000),
)
def test_deep_mlp_is_linear_relu_stack_and_readout_is_exact(d, widths, outputs, seed):
    model = DeepMLP(d, widths, outputs, seed=seed)
    assert model.hidden_widths == tuple(widths)
    x = torch.randn(3, d, generator=torch.Generator().manual_seed(seed))
    h = x
    for layer in model.layers[:-1]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    expected = h @ model.layers[-1].weight.T + model.layers[-1].bias
    y = model(x)
    torch.testing.assert_close(y, expected)
    output_weights, bias = model.readout()
    torch.testing.assert_close(y, model.hidden(x) @ output_weights + bias)


@pytest.mark.parametrize("size,final", [(8, 2), (28, 7), (32, 8)])
def test_residual_cnn_shapes_for_each_input_size(size, final):
    model = ResidualCNN(3, 10, size, seed=0).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    h = model.features(x)
    for block in model.blocks:
        h = block(h)
    assert h.shape == (2, 64, final, final)
    y = model(x)
    assert y.shape == (2, 10)
    torch.testing.assert_close(model(x.flatten(1)), y)  # flat rows are reshaped to images


def test_residual_block_shortcuts_and_forward():
    model = ResidualCNN(1, 2, 8, widths=(4, 6), seed=1).eval()
    same, down = model.blocks
    assert isinstance(same.shortcut, nn.Identity)
    assert isinstance(down.shortcut, nn.Sequential) and down.shortcut[0].stride == (2, 2)
    x = torch.randn(2, 4, 8, 8)
    expected = torch.relu(down.bn2(down.conv2(torch.relu(down.bn1(down.conv1(x))))) + down.shortcut(x))
    torch.testing.assert_close(down(x), expected)


def test_count_parameters_by_hand():
    assert count_parameters(DeepMLP(3, [4], 2)) == 3 * 4 + 4 + 4 * 2 + 2
    assert count_parameters(TwoLayerNTK(5, 7, 3)) == 5 * 7  # the output signs are a buffer
    assert count_parameters(MeanFieldTwoLayer(5, 7, 3)) == 5 * 7 + 7 * 3
    net = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.Linear(4, 5))
    assert count_parameters(net) == 2 * 3 * 9 + 3 + 3 + 4 * 5 + 5
    net[2].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 2 * 3 * 9 + 3 + 3 + 5


def test_count_macs_by_hand_on_tiny_nets():
    assert count_macs(DeepMLP(3, [4, 5], 2), (3,)) == 3 * 4 + 4 * 5 + 5 * 2
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 4, 3, stride=2), nn.Flatten(), nn.Linear(16, 2))
    # 5x5 -> 5x5 (padding 1) -> 2x2 (stride 2, no padding)
    assert count_macs(conv, (2, 5, 5)) == 3 * 25 * 2 * 9 + 4 * 4 * 3 * 9 + 16 * 2
    grouped = nn.Conv2d(4, 6, 1, groups=2)
    assert count_macs(grouped, (4, 3, 3)) == 6 * 9 * 2
    # stem 1->2 on 8x8, block conv1 and conv2 2->2, head 2->2 (identity shortcut)
    single = 2 * 64 * 9 + 2 * (2 * 64 * 2 * 9) + 2 * 2
    assert count_macs(ResidualCNN(1, 2, 8, widths=(2,)), (1, 8, 8)) == single
    # second stage 2->3 at stride 2 on 4x4: conv1, conv2 and the 1x1 shortcut; the head becomes 3->2
    two_stage = single - 4 + 3 * 16 * 2 * 9 + 3 * 16 * 3 * 9 + 3 * 16 * 2 + 3 * 2
    assert count_macs(ResidualCNN(1, 2, 8, widths=(2, 3)), (1, 8, 8)) == two_stage


def test_count_macs_restores_mode_and_leaves_running_stats():
    model = ResidualCNN(1, 2, 8, widths=(2,)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs(model, (1, 8, 8))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "build,argument",
    [
        (lambda: TwoLayerNTK(0, 5), "d"),
        (lambda: TwoLayerNTK(3, -1), "width"),
        (lambda: TwoLayerNTK(3, 5, outputs=0), "outputs"),
        (lambda: TwoLayerNTK(3, 5, kappa=0.0), "kappa"),
        (lambda: TwoLayerNTK(3, 5, kappa=float("nan")), "kappa"),
        (lambda: TwoLayerNTK(3, 5, output_mode="ones"), "output_mode"),
        (lambda: TwoLayerNTK(3, 5, seed=-1), "seed"),
        (lambda: TwoLayerNTK(3.5, 5), "d"),
        (lambda: MeanFieldTwoLayer(3, 0), "width"),
        (lambda: DeepMLP(3, [], 2), "hidden_widths"),
        (lambda: DeepMLP(3, [4, 0], 2), "hidden_widths[1]"),
        (lambda: DeepMLP(3, [4], True), "outputs"),
        (lambda: ResidualCNN(1, 10, 16), "input_size"),
        (lambda: ResidualCNN(0, 10, 8), "in_channels"),
        (lambda: ResidualCNN(1, 10, 8, widths=()), "widths"),
        (lambda: ResidualCNN(1, 10, 8, blocks_per_stage=0), "blocks_per_stage"),
        (lambda: count_macs(DeepMLP(3, [4], 2), (0,)), "input_shape[0]"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, argument):
    with pytest.raises(ValueError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_residual_cnn_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match="x must have shape"):
        ResidualCNN(1, 2, 8, widths=(2,))(torch.zeros(1, 1, 7, 7))


def test_typed_accessors_return_the_layers():
    mlp = DeepMLP(3, [4, 5], 2)
    assert [mlp.linear(i) for i in range(3)] == list(mlp.layers)
    cnn = ResidualCNN(1, 2, 8, widths=(2, 3))
    assert [cnn.block(i) for i in range(2)] == list(cnn.blocks)
