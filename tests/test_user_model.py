"""GFS on a user's own model (ebtheory.prune.user_model): the same selection as the project's two-layer
GFS and layer-wise GFS, the pruned Sequential computes the averaged subnetwork, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ebtheory.models import DeepMLP, ResidualCNN, TwoLayerNTK
from ebtheory.prune.gfs import greedy_forward_selection, pruned_two_layer
from ebtheory.prune.layerwise import layerwise_gfs
from ebtheory.prune.user_model import select_subnetwork, sequential_layers


def _as_sequential(net: TwoLayerNTK) -> nn.Sequential:
    """The two-layer NTK net written as Linear(bias=False), ReLU, Linear(bias=False)."""
    first = nn.Linear(net.input_weights.shape[1], net.width, bias=False)
    last = nn.Linear(net.width, net.output_signs.shape[1], bias=False)
    with torch.no_grad():
        first.weight.copy_(net.input_weights)
        last.weight.copy_((net.output_signs / math.sqrt(net.width)).T)
    return nn.Sequential(first, nn.ReLU(), last)


@given(seed=st.integers(0, 2**16), k=st.integers(1, 12), replacement=st.booleans())
def test_two_layer_sequential_selects_what_gfs_selects(seed: int, k: int, replacement: bool) -> None:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(15, 6, generator=generator)
    Y = torch.randn(15, 3, generator=generator)
    net = TwoLayerNTK(6, 12, 3, seed=seed)
    expected = greedy_forward_selection(
        net.hidden(X).detach().double(), net.readout()[0].double(), Y.double(), k, replacement=replacement
    )
    got = select_subnetwork(_as_sequential(net), X, Y, k, replacement=replacement)
    assert got.selections == {"0": expected.indices.tolist()}
    assert got.method == "exact_two_layer"
    # the pruned Sequential is the averaged subnetwork u_S that the project builds
    reference = pruned_two_layer(net.input_weights.detach(), net.readout()[0], expected.counts)
    torch.testing.assert_close(got.module(X), reference(X), rtol=1e-5, atol=1e-6)
    assert got.widths_after["0"] == int((expected.counts > 0).sum())


def test_two_layer_with_biases_matches_gfs_loss_curve() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 2))
    X, Y = torch.randn(20, 5), torch.randn(20, 2)
    got = select_subnetwork(model, X, Y, 6)
    with torch.no_grad():
        out = got.module(X).double()
    # the last step's recorded loss is the sum loss of the returned module
    assert float(0.5 * (out - Y.double()).square().sum()) == pytest.approx(float(got.losses["0"][-1]), rel=1e-5)
    assert model[0].weight.shape == (9, 5)  # the input is left unchanged


def test_deep_sequential_matches_layerwise_gfs_on_deep_mlp() -> None:
    mlp = DeepMLP(6, [10, 8], 3, seed=1)
    sequential = nn.Sequential(mlp.layers[0], nn.ReLU(), mlp.layers[1], nn.ReLU(), mlp.layers[2])
    X = torch.randn(25, 6, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 3, (25,), generator=torch.Generator().manual_seed(4))
    expected = layerwise_gfs(mlp, X, y, [4, 3], loss="cross_entropy")
    got = select_subnetwork(sequential, X, y, {"0": 4, "2": 3}, loss="cross_entropy")
    assert got.selections == {"0": expected.selections["layers.0"], "2": expected.selections["layers.1"]}
    assert isinstance(got.module, nn.Sequential) and len(got.module) == 5
    torch.testing.assert_close(got.module(X), expected.model(X))


def test_cnn_goes_through_layerwise_gfs() -> None:
    cnn = ResidualCNN(1, 3, 8, widths=(3, 3), seed=0)
    X = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6) % 3
    expected = layerwise_gfs(cnn, X, y, 2, loss="cross_entropy")
    got = select_subnetwork(cnn, X, y, 2, loss="cross_entropy")
    assert got.selections == expected.selections and got.method == "layerwise"
    assert got.params_after < got.params_before


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)), r"layer 1 \(Tanh\) is not supported"),
        (nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 2)), r"layer 1 \(Linear\) is out of place"),
        (nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(6, 2)), r"layer 2 \(Linear\) takes in_features=6"),
        (nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2), nn.ReLU()), r"layer 3 \(ReLU\) is out of place"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(5, 2)), r"layer 0 \(Conv2d\) is not supported"),
        (nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 2)), r"layer 1 \(ReLU\) must not be"),
        (nn.Linear(4, 2), r"model must be an nn.Sequential"),
    ],
)
def test_unsupported_layers_are_named(model: nn.Module, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_subnetwork(model, torch.randn(8, 4), torch.randn(8, 2), 2)


def test_bad_shapes_are_named() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"X has 3 features.*layer 0 \(Linear\) takes in_features=4"):
        select_subnetwork(model, torch.randn(8, 3), torch.randn(8, 2), 2)
    with pytest.raises(ValueError, match=r"Y must be a tensor with one row per example of X \(m=8\)"):
        select_subnetwork(model, torch.randn(8, 4), torch.randn(7, 2), 2)
    with pytest.raises(ValueError, match=r"float Y must have shape \(m, C\) = \(8, 2\)"):
        select_subnetwork(model, torch.randn(8, 4), torch.randn(8, 3), 2)
    with pytest.raises(ValueError, match=r"keep .* must lie in \[1, 5\] without replacement"):
        select_subnetwork(model, torch.randn(8, 4), torch.randn(8, 2), 6, replacement=False)
    with pytest.raises(ValueError, match=r"loss must be one of"):
        select_subnetwork(model, torch.randn(8, 4), torch.randn(8, 2), 2, loss="hinge")


def test_sequential_layers_returns_the_linears() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    assert [layer.out_features for layer in sequential_layers(model)] == [5, 3, 2]
