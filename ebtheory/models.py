"""The networks ebtheory trains and prunes, and counters of their size.

- `TwoLayerNTK`: f(x) = (1/sqrt(N)) sum_r a_r relu(w_r . x), docs/theory.md section 1 (Du et al., ICLR 2019).
- `MeanFieldTwoLayer`: f(x) = (1/N) sum_r b_r relu(w_r . x) with trainable b (Ye et al., ICML 2020).
- `DeepMLP`, `ResidualCNN`: the deep nets of docs/theory.md section 5.6, pruned layer by layer.
- `count_parameters`, `count_macs`: the size and cost that the pruning reports compare.

Every constructor is seeded through its own `torch.Generator`; none touches torch's global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebtheory.validation import require_choice, require_positive, require_positive_int

__all__ = [
    "TwoLayerNTK",
    "MeanFieldTwoLayer",
    "DeepMLP",
    "ResidualBlock",
    "ResidualCNN",
    "RESIDUAL_CNN_INPUT_SIZES",
    "count_parameters",
    "count_macs",
]

OUTPUT_MODES = ("signs", "vectors")
RESIDUAL_CNN_INPUT_SIZES = (8, 28, 32)


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return torch.Generator().manual_seed(seed)


def _uniform_(tensor: Tensor, bound: float, generator: torch.Generator) -> None:
    """Fill with U[-bound, bound] drawn from `generator` (torch's default Linear init has bound 1/sqrt(fan_in))."""
    with torch.no_grad():
        tensor.copy_((torch.rand(tensor.shape, generator=generator) * 2 - 1) * bound)


def _normal_(tensor: Tensor, std: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)


def _seeded_linear(in_features: int, out_features: int, generator: torch.Generator, bias: bool = True) -> nn.Linear:
    """nn.Linear with PyTorch's default U[-1/sqrt(fan_in), 1/sqrt(fan_in)] init, drawn from `generator`."""
    layer = nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias)
    bound = 1.0 / math.sqrt(in_features)
    _uniform_(layer.weight, bound, generator)
    if layer.bias is not None:
        _uniform_(layer.bias, bound, generator)
    return layer


def _seeded_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, generator: torch.Generator
) -> nn.Conv2d:
    """Bias-free conv (a BatchNorm follows), He init N(0, 2/fan_out) as in torchvision's ResNet."""
    conv = nn.utils.skip_init(
        nn.Conv2d, in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
    )
    _normal_(conv.weight, math.sqrt(2.0 / (out_channels * kernel_size * kernel_size)), generator)
    return conv


class _TwoLayer(nn.Module):
    """Shared form of the two-layer nets: model(x) == hidden(x) @ readout()[0], bit for bit."""

    input_weights: nn.Parameter

    def hidden(self, x: Tensor) -> Tensor:
        """Hidden activations relu(x W^T), shape (m, N); x is flattened to (m, d)."""
        return F.relu(x.flatten(1) @ self.input_weights.T)

    def readout(self) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        output_weights, _ = self.readout()
        return self.hidden(x) @ output_weights

    @property
    def width(self) -> int:
        return int(self.input_weights.shape[0])


class TwoLayerNTK(_TwoLayer):
    """f(x) = (1/sqrt(N)) sum_r a_r relu(w_r . x), docs/theory.md section 1 (Du, Zhai, Poczos, Singh, ICLR 2019).

    w_r(0) ~ N(0, kappa^2 I_d) is the only trained tensor (`input_weights`, N x d). The output weights a
    (buffer `output_signs`, N x C) are fixed: with output_mode="signs" each output column is an independent
    uniform vector in {+1, -1}^N; with output_mode="vectors" each row a_r is a uniform random unit vector in
    R^C. No biases. `readout()` returns (a / sqrt(N), None), so the GFS atoms N * H[:, r] (x) W2[r] are
    sqrt(N) a_r relu(X w_r) exactly as in docs/theory.md section 2.
    """

    output_signs: Tensor

    def __init__(
        self,
        d: int,
        width: int,
        outputs: int = 1,
        kappa: float = 1.0,
        output_mode: str = "signs",
        seed: int = 0,
    ) -> None:
        super().__init__()
        d = require_positive_int("d", d)
        width = require_positive_int("width", width)
        outputs = require_positive_int("outputs", outputs)
        self.kappa = require_positive("kappa", kappa)
        self.output_mode = require_choice("output_mode", output_mode, OUTPUT_MODES)
        generator = _generator(seed)
        self.input_weights = nn.Parameter(self.kappa * torch.randn(width, d, generator=generator))
        if output_mode == "signs":
            signs = torch.randint(0, 2, (width, outputs), generator=generator).float() * 2 - 1
        else:
            directions = torch.randn(width, outputs, generator=generator)
            signs = directions / directions.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
        self.register_buffer("output_signs", signs)

    def readout(self) -> tuple[Tensor, Tensor | None]:
        """(a / sqrt(N), None): the linear map from hidden(x) to the output."""
        return self.output_signs / math.sqrt(self.width), None


class MeanFieldTwoLayer(_TwoLayer):
    """f(x) = (1/N) sum_r b_r relu(w_r . x), the mean-field two-layer net of Ye et al. (ICML 2020).

    Both W (`input_weights`, N x d) and b (`output_weights`, N x C) are trained. Init: w_r ~ N(0, I_d), so
    w_r . x ~ N(0, 1) for unit-norm x (docs/theory.md section 1 puts inputs on the sphere), and b_r ~ U[-1, 1]^C,
    bounded as Ye et al. assume. `readout()` returns (b / N, None); the GFS atoms are then b_r relu(X w_r).
    """

    output_weights: nn.Parameter

    def __init__(self, d: int, width: int, outputs: int = 1, seed: int = 0) -> None:
        super().__init__()
        d = require_positive_int("d", d)
        width = require_positive_int("width", width)
        outputs = require_positive_int("outputs", outputs)
        generator = _generator(seed)
        self.input_weights = nn.Parameter(torch.randn(width, d, generator=generator))
        self.output_weights = nn.Parameter(torch.rand(width, outputs, generator=generator) * 2 - 1)

    def readout(self) -> tuple[Tensor, Tensor | None]:
        """(b / N, None): the linear map from hidden(x) to the output."""
        return self.output_weights / self.width, None


class DeepMLP(nn.Module):
    """Linear-ReLU stack: x -> relu(L_1 x) -> ... -> relu(L_D h) -> L_out h, inputs flattened to (m, d).

    `layers` is an nn.ModuleList of the D + 1 Linear layers (with biases, PyTorch's default init drawn from
    a seeded generator). Layer-wise GFS selects the output units of layers[0..D-1].
    """

    layers: nn.ModuleList

    def __init__(self, d: int, hidden_widths: Sequence[int], outputs: int, seed: int = 0) -> None:
        super().__init__()
        d = require_positive_int("d", d)
        outputs = require_positive_int("outputs", outputs)
        if isinstance(hidden_widths, (int, str)) or len(hidden_widths) == 0:
            raise ValueError(f"hidden_widths must be a non-empty sequence of positive ints; got {hidden_widths!r}")
        widths = tuple(require_positive_int(f"hidden_widths[{i}]", w) for i, w in enumerate(hidden_widths))
        generator = _generator(seed)
        sizes = (d, *widths, outputs)
        self.layers = nn.ModuleList(_seeded_linear(sizes[i], sizes[i + 1], generator) for i in range(len(sizes) - 1))

    def linear(self, index: int) -> nn.Linear:
        """layers[index], typed (an nn.ModuleList hands back plain Modules)."""
        layer = self.layers[index]
        assert isinstance(layer, nn.Linear)
        return layer

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return tuple(self.linear(i).out_features for i in range(len(self.layers) - 1))

    def hidden(self, x: Tensor) -> Tensor:
        """Activations of the last hidden layer, shape (m, hidden_widths[-1])."""
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = F.relu(layer(h))
        return h

    def readout(self) -> tuple[Tensor, Tensor | None]:
        """(W_out^T, b_out): model(x) == hidden(x) @ W_out^T + b_out up to float rounding."""
        last = self.linear(len(self.layers) - 1)
        return last.weight.T, last.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.layers[-1](self.hidden(x))  # a module call, so hooks (count_macs) see the last layer


class ResidualBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3x3 convs; shortcut is identity or 1x1 conv-BN.

    The inner channels (conv1's outputs = bn1 = conv2's inputs) are free to change width: layer-wise
    GFS prunes them. The block's output width must match its shortcut and is not pruned.
    """

    conv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    conv2: nn.Conv2d
    bn2: nn.BatchNorm2d

    def __init__(self, in_channels: int, out_channels: int, stride: int, generator: torch.Generator) -> None:
        super().__init__()
        self.conv1 = _seeded_conv(in_channels, out_channels, 3, stride, generator)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _seeded_conv(out_channels, out_channels, 3, 1, generator)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                _seeded_conv(in_channels, out_channels, 1, stride, generator), nn.BatchNorm2d(out_channels)
            )

    def inner(self, x: Tensor) -> Tensor:
        """relu(bn1(conv1(x))): the channels that layer-wise GFS selects."""
        return F.relu(self.bn1(self.conv1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn2(self.conv2(self.inner(x))) + self.shortcut(x))


class ResidualCNN(nn.Module):
    """Small ResNet: stem conv3x3-BN-ReLU, one stage of residual blocks per width, global avg pool, linear head.

    Stage i has `blocks_per_stage` blocks of width widths[i]; the first stage keeps the resolution and
    each later stage halves it (stride-2 first block with a 1x1 conv-BN shortcut). With the default
    widths (16, 32, 64): 8x8 inputs (digits) give 8 -> 4 -> 2 maps, 28x28 (MNIST) 28 -> 14 -> 7,
    32x32 (CIFAR) 32 -> 16 -> 8. Inputs are (n, C, s, s), or flat (n, C*s*s) rows that are reshaped.
    """

    stem: nn.Sequential
    blocks: nn.ModuleList
    head: nn.Linear

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int,
        widths: Sequence[int] = (16, 32, 64),
        seed: int = 0,
        blocks_per_stage: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = require_positive_int("in_channels", in_channels)
        num_classes = require_positive_int("num_classes", num_classes)
        if input_size not in RESIDUAL_CNN_INPUT_SIZES:
            raise ValueError(f"input_size must be one of {RESIDUAL_CNN_INPUT_SIZES}; got {input_size!r}")
        self.input_size = int(input_size)
        if isinstance(widths, (int, str)) or len(widths) == 0:
            raise ValueError(f"widths must be a non-empty sequence of positive ints; got {widths!r}")
        widths = tuple(require_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths))
        blocks_per_stage = require_positive_int("blocks_per_stage", blocks_per_stage)
        generator = _generator(seed)
        self.stem = nn.Sequential(_seeded_conv(in_channels, widths[0], 3, 1, generator), nn.BatchNorm2d(widths[0]))
        blocks = []
        previous = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(previous, width, stride, generator))
                previous = width
        self.blocks = nn.ModuleList(blocks)
        self.head = _seeded_linear(previous, num_classes, generator)

    def block(self, index: int) -> ResidualBlock:
        """blocks[index], typed (an nn.ModuleList hands back plain Modules)."""
        block = self.blocks[index]
        assert isinstance(block, ResidualBlock)
        return block

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    def features(self, x: Tensor) -> Tensor:
        """Stem output relu(bn(conv(x))), with flat rows reshaped to (n, C, s, s)."""
        if x.dim() == 2:
            x = x.reshape(x.shape[0], *self.input_shape)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must have shape (n, {self.input_shape}) or (n, prod); got {tuple(x.shape)}")
        return F.relu(self.stem(x))

    def classify(self, h: Tensor) -> Tensor:
        """Global average pool and linear head."""
        return self.head(h.mean(dim=(-2, -1)))

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)
        for block in self.blocks:
            h = block(h)
        return self.classify(h)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (buffers such as BatchNorm running statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of all Conv2d and Linear layers for ONE example of shape `input_shape`.

    Conv2d: out_channels * H_out * W_out * (in_channels / groups) * kh * kw; Linear: in * out per row of
    its input (so a Linear applied to a (1, T, in) tensor counts T rows). BatchNorm, ReLU, pooling, additions
    and the plain matrix products of the two-layer nets are not counted. Measured with forward hooks on a
    single zero input in eval mode under no_grad; the model's mode is restored afterwards.
    """
    shape = tuple(require_positive_int(f"input_shape[{i}]", s) for i, s in enumerate(input_shape))
    total = 0

    def on_conv(module: nn.Conv2d, _inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def on_linear(module: nn.Linear, _inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(on_linear))
    reference = next(iter(model.parameters()), None)
    dummy = torch.zeros(
        (1, *shape),
        dtype=reference.dtype if reference is not None else torch.float32,
        device=reference.device if reference is not None else None,
    )
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(dummy)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return int(total)
