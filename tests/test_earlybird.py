"""Tests of ebtheory.prune.earlybird: masks, Hamming distance, the detector against brute force."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ebtheory.prune.earlybird import (
    EarlyBirdDetector,
    bn_channel_mask,
    bn_l1_penalty,
    bn_scales,
    detection_point,
    distance_matrix,
    global_magnitude_mask,
    hamming_distance,
    neuron_norm_mask,
)

ratios = st.floats(0.01, 0.99)
methods = st.sampled_from(["topk", "threshold"])
compares = st.sampled_from(["newest_vs_all", "consecutive"])


def masks_of(length: int) -> st.SearchStrategy[torch.Tensor]:
    return st.lists(st.booleans(), min_size=length, max_size=length).map(
        lambda bits: torch.tensor(bits, dtype=torch.bool)
    )


def bn_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.ReLU()
    )
    for layer in net:
        if isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight)
    return net


@given(a=masks_of(9), b=masks_of(9), c=masks_of(9))
def test_hamming_distance_is_a_metric_in_unit_interval(a, b, c):
    ab, bc, ac = hamming_distance(a, b), hamming_distance(b, c), hamming_distance(a, c)
    assert 0.0 <= ab <= 1.0
    assert ab == hamming_distance(b, a)
    assert (ab == 0.0) == bool(torch.equal(a, b))
    assert ac <= ab + bc + 1e-12
    assert hamming_distance(a, ~a) == 1.0


@given(masks=st.integers(1, 6).flatmap(lambda n: st.lists(masks_of(7), min_size=n, max_size=n)))
def test_distance_matrix_matches_pairwise_distances(masks):
    D = distance_matrix(masks)
    for i, a in enumerate(masks):
        for j, b in enumerate(masks):
            assert D[i, j].item() == pytest.approx(hamming_distance(a, b), abs=1e-12)


def reference_topk(scores: list[float], ratio: float) -> set[int]:
    """Obvious twin: rank (-score, index) and keep the first round-half-up((1-p) c)."""
    keep = math.floor((1 - ratio) * len(scores) + 0.5)
    ranked = sorted(range(len(scores)), key=lambda j: (-scores[j], j))
    return set(ranked[:keep])


@given(scores=st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=30), ratio=ratios)
def test_topk_keeps_the_largest_with_ties_to_the_lowest_index(scores, ratio):
    mask = bn_channel_mask([torch.tensor(scores)], ratio, "topk")
    kept = set(torch.nonzero(mask).flatten().tolist())
    assert kept == reference_topk([abs(s) for s in scores], ratio)


@given(scores=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=40, unique=True), ratio=ratios)
def test_topk_count_matches_the_ratio_absent_ties(scores, ratio):
    mask = bn_channel_mask(torch.tensor(scores, dtype=torch.float64), ratio, "topk")
    assert int(mask.sum()) == math.floor((1 - ratio) * len(scores) + 0.5)
    values = torch.tensor(scores, dtype=torch.float64)
    kept, pruned = values[mask], values[~mask]
    if kept.numel() and pruned.numel():
        assert kept.min() > pruned.max()


@given(scores=st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=30), ratio=ratios)
def test_threshold_is_the_reference_code(scores, ratio):
    """EB-Train: y = sort(|gamma|); thre = y[int(total * percent)]; mask = |gamma| > thre."""
    values = [abs(s) for s in scores]
    threshold = sorted(values)[int(len(values) * ratio)]
    expected = [v > threshold for v in values]
    mask = bn_channel_mask([torch.tensor(scores, dtype=torch.float64)], ratio, "threshold")
    assert mask.tolist() == expected


@given(
    integers=st.lists(st.integers(-1000, 1000), min_size=1, max_size=30),
    power=st.integers(-20, 20),
    factor=st.floats(0.1, 10.0),
    ratio=ratios,
    method=methods,
)
def test_mask_is_invariant_to_positive_rescaling(integers, power, factor, ratio, method):
    scales = torch.tensor(integers, dtype=torch.float64)
    mask = bn_channel_mask([scales], ratio, method)
    # A power of two rescales exactly; a general factor keeps the order of distinct integers.
    assert torch.equal(mask, bn_channel_mask([scales * 2.0**power], ratio, method))
    assert torch.equal(mask, bn_channel_mask([scales * factor], ratio, method))


def test_model_mask_concatenates_bn_layers_in_order():
    net = bn_net()
    scales = bn_scales(net)
    assert [s.numel() for s in scales] == [4, 6]
    assert torch.equal(bn_channel_mask(net, 0.5), bn_channel_mask(scales, 0.5))
    assert int(bn_channel_mask(net, 0.5).sum()) == 5


def test_neuron_norm_mask_scores_hidden_rows():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    mask = neuron_norm_mask(net, 0.4)
    assert mask.shape == (9,) and int(mask.sum()) == 5
    norms = torch.cat([net[0].weight.norm(dim=1), net[2].weight.norm(dim=1)])
    assert torch.equal(mask, global_magnitude_mask(norms.detach(), 0.4))
    with pytest.raises(ValueError, match="nn.Linear"):
        neuron_norm_mask(nn.Sequential(nn.Linear(3, 2)), 0.4)


def brute_force_detection(masks, window, eps, compare):
    """Recompute the rule from scratch at every index with hamming_distance only."""
    for i in range(window - 1, len(masks)):
        if compare == "newest_vs_all":
            pairs = [(i, j) for j in range(i - window + 1, i)]
        else:
            pairs = [(j, j + 1) for j in range(i - window + 1, i)]
        if all(hamming_distance(masks[a], masks[b]) <= eps for a, b in pairs):
            return i
    return None


@given(
    masks=st.lists(masks_of(6), min_size=0, max_size=12),
    window=st.integers(2, 5),
    eps=st.sampled_from([0.0, 1 / 6, 0.2, 2 / 6, 0.5]),
    compare=compares,
)
def test_detector_agrees_with_brute_force(masks, window, eps, compare):
    expected = brute_force_detection(masks, window, eps, compare)
    assert detection_point(masks, window, eps, compare) == expected
    detector = EarlyBirdDetector(window=window, eps=eps, compare=compare)
    flags = [detector.update(mask) for mask in masks]
    assert detector.detected_at == expected
    assert (flags.index(True) if True in flags else None) == expected
    assert len(detector.history) == len(masks)
    for i, checked in enumerate(detector.history):
        assert len(checked) == (window - 1 if i >= window - 1 else 0)


def test_compare_modes_differ_on_a_drifting_sequence():
    """Masks drifting by one bit per epoch: consecutive pairs are close, the newest is far from the
    oldest. Distances with c = 10: consecutive 0.1 each, newest vs oldest 0.4."""
    masks = []
    mask = torch.zeros(10, dtype=torch.bool)
    for j in range(8):
        mask = mask.clone()
        mask[j] = True
        masks.append(mask)
    assert detection_point(masks, 5, 0.1, "consecutive") == 4
    assert detection_point(masks, 5, 0.1, "newest_vs_all") is None


def test_detector_from_model_and_paper_defaults():
    net = bn_net()
    detector = EarlyBirdDetector(ratio=0.5)
    assert (detector.window, detector.eps) == (5, 0.1)
    flags = [detector.update_from_model(net) for _ in range(5)]
    assert flags == [False] * 4 + [True] and detector.detected_at == 4
    with pytest.raises(ValueError, match="ratio"):
        EarlyBirdDetector().update_from_model(net)
    with pytest.raises(ValueError, match="shape"):
        detector.update(torch.ones(3, dtype=torch.bool))


def test_bn_l1_penalty():
    net = bn_net()
    penalty = bn_l1_penalty(net, coefficient=0.5)
    expected = 0.5 * sum(s.abs().sum() for s in bn_scales(net))
    assert penalty.item() == pytest.approx(float(expected))
    penalty.backward()
    torch.testing.assert_close(net[1].weight.grad, 0.5 * net[1].weight.detach().sign())
    with pytest.raises(ValueError, match="BatchNorm"):
        bn_l1_penalty(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="coefficient"):
        bn_l1_penalty(net, coefficient=-1.0)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(window=1), "window"),
        (dict(window=2.5), "window"),
        (dict(eps=-0.1), "eps"),
        (dict(eps=float("nan")), "eps"),
        (dict(ratio=0.0), "ratio"),
        (dict(ratio=1.0), "ratio"),
        (dict(compare="pairs"), "compare"),
        (dict(method="median"), "method"),
    ],
)
def test_bad_detector_arguments_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        EarlyBirdDetector(**kwargs)


def test_bad_mask_arguments_raise():
    scales = [torch.ones(4)]
    for ratio in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="ratio"):
            bn_channel_mask(scales, ratio)
    with pytest.raises(ValueError, match="method"):
        bn_channel_mask(scales, 0.5, "random")
    with pytest.raises(ValueError, match="finite"):
        bn_channel_mask([torch.tensor([1.0, float("nan")])], 0.5)
    with pytest.raises(ValueError, match="BatchNorm"):
        bn_channel_mask(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match="shape"):
        hamming_distance(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="window"):
        detection_point([], window=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_masks_stay_on_their_device():
    scales = torch.randn(20, device="cuda")
    mask = bn_channel_mask([scales], 0.3)
    assert mask.device.type == "cuda"
    masks = [mask, ~mask, mask]
    assert distance_matrix(masks).device.type == "cuda"
    assert detection_point(masks, 2, 0.0) is None
