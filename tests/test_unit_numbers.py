"""The loss a unit records is the loss the spec pre-trains with: squared for the two-layer presets,
cross-entropy for the CNN (its thresholds are read off it)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ebtheory.verify import unit
from ebtheory.verify.presets import TINY


@pytest.mark.parametrize("train_loss", ["sum_squares", "cross_entropy"])
def test_network_numbers_use_the_pretraining_loss(train_loss: str) -> None:
    spec = dataclasses.replace(TINY, train_loss=train_loss)
    data = unit.load_unit_data(spec, 16, 0)
    model = unit.build_model(spec, data, 0)
    numbers = unit.network_numbers(spec, model, data, torch.device("cpu"))
    with torch.no_grad():
        outputs = model(data.X).double()
    if train_loss == "cross_entropy":
        expected = float(torch.nn.functional.cross_entropy(outputs, data.y, reduction="sum"))
    else:
        expected = float(0.5 * (outputs - data.Y.double()).square().sum())
    assert numbers.train_loss_sum == pytest.approx(expected, rel=1e-9)
    assert numbers.train_loss_mean == pytest.approx(expected / 16, rel=1e-9)
    assert numbers.train_acc == pytest.approx(float((outputs.argmax(1) == data.y).double().mean()))
