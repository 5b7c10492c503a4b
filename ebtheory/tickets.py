"""Tickets you can keep: a pruned subnetwork saved as safetensors with a small JSON header, and loaded
back into a ready `nn.Module` without unpickling anything.

File format (one ``.safetensors`` file per ticket; safetensors stores named tensors and a string
metadata map, and its reader executes no code):

- tensors ``<name>``: the pruned module's state dict (parameters and buffers), exactly as the forward
  pass uses them (a ``torch.nn.utils.prune`` reparametrisation is made permanent first:
  ``weight = weight_orig * weight_mask``);
- tensors ``mask.<dense parameter>``: boolean masks over the DENSE model the ticket was cut from, in
  the form ``torch.nn.utils.prune.custom_from_mask(module, name, mask)`` takes (same shape as that
  parameter; True = kept), e.g. ``mask.input_weights`` of a two-layer net, or ``mask.layers.0.weight``;
- metadata key ``ebtheory_ticket``: the JSON header, a `TicketHeader`:
  ``format`` (TICKET_FORMAT), ``family`` (one of FAMILIES: how to rebuild the module), ``architecture``
  (the constructor arguments of the pruned module: sizes only, never code), ``masks`` (the dense
  parameter names that have a mask), ``dense`` (class name and parameter shapes of the dense model),
  ``selection`` (layer name -> chosen units in selection order, repeats allowed), ``numbers`` (the
  recorded accuracy and losses of this module, e.g. ``train_acc``, ``test_acc``), ``provenance``
  (free-form: run hash, m, seed, t, subnet name).

Families and their modules (ebtheory.models, ebtheory.prune.gfs):
``two_layer`` PrunedTwoLayer (GFS, magnitude, random and Early-Bird subnetworks of a two-layer net:
u_S = (1/k) sum_{r in S} g_r, docs/theory.md section 2), ``ntk`` TwoLayerNTK and ``mean_field``
MeanFieldTwoLayer (dense shape, masked weights: IMP tickets), ``deep_mlp`` DeepMLP, ``cnn``
ResidualCNN (blocks' inner widths may be pruned), ``sequential`` an nn.Sequential of Linear / ReLU
layers (ebtheory.prune.user_model).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from ebtheory.models import DeepMLP, MeanFieldTwoLayer, ResidualBlock, ResidualCNN, TwoLayerNTK
from ebtheory.prune.gfs import PrunedTwoLayer

__all__ = [
    "FAMILIES",
    "HEADER_KEY",
    "MASK_PREFIX",
    "TICKET_FORMAT",
    "LoadedTicket",
    "TicketError",
    "TicketHeader",
    "TicketWriter",
    "apply_masks",
    "architecture_of",
    "build_module",
    "layer_unit_masks",
    "load",
    "load_ticket",
    "neuron_masks",
    "save_ticket",
]

TICKET_FORMAT = 1
HEADER_KEY = "ebtheory_ticket"
MASK_PREFIX = "mask."
FAMILIES = ("two_layer", "ntk", "mean_field", "deep_mlp", "cnn", "sequential")
SEQUENTIAL_LAYERS = (nn.Linear, nn.ReLU)


class TicketError(ValueError):
    """A ticket that cannot be saved or loaded: names the file (or module) and the problem."""


@dataclass(frozen=True)
class TicketHeader:
    """The JSON header of a ticket file (module docstring)."""

    family: str
    architecture: dict[str, Any]
    masks: tuple[str, ...] = ()
    dense: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, list[int]] = field(default_factory=dict)
    numbers: dict[str, float | None] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    format: int = TICKET_FORMAT

    def to_json(self) -> str:
        data = asdict(self)
        data["masks"] = list(self.masks)
        return json.dumps(data, sort_keys=True, allow_nan=False)


@dataclass(frozen=True)
class LoadedTicket:
    """module: the rebuilt subnetwork (eval mode); header: its TicketHeader; masks: dense parameter name
    -> boolean mask over the dense model (for torch.nn.utils.prune.custom_from_mask)."""

    module: nn.Module
    header: TicketHeader
    masks: dict[str, Tensor]


# ------------------------------------------------------------------------------------ architecture


def _blocks(model: ResidualCNN) -> list[ResidualBlock]:
    return [cast(ResidualBlock, block) for block in model.blocks]


def _stage_layout(model: ResidualCNN) -> tuple[list[int], int]:
    """(stage widths, blocks per stage) of a ResidualCNN: a new stage starts at each stride-2 block."""
    blocks = _blocks(model)
    starts = [i for i, block in enumerate(blocks) if i == 0 or block.conv1.stride != (1, 1)]
    widths = [blocks[i].conv2.out_channels for i in starts]
    return widths, len(blocks) // len(starts)


def _sequential_layers(module: nn.Sequential, where: str) -> list[list[Any]]:
    layers: list[list[Any]] = []
    for index, layer in enumerate(module):
        if isinstance(layer, nn.Linear):
            layers.append(["linear", layer.in_features, layer.out_features, layer.bias is not None])
        elif isinstance(layer, nn.ReLU):
            layers.append(["relu"])
        else:
            raise TicketError(
                f"{where}: layer {index} is {type(layer).__name__}; a sequential ticket holds only Linear and ReLU layers"
            )
    return layers


def architecture_of(module: nn.Module) -> tuple[str, dict[str, Any]]:
    """(family, constructor arguments) that rebuild `module`'s shapes with `build_module`."""
    if isinstance(module, PrunedTwoLayer):
        weights, readout = module.input_weights, module.output_weights
        return "two_layer", {
            "d": int(weights.shape[1]),
            "width": int(weights.shape[0]),
            "outputs": int(readout.shape[1]),
            "input_bias": module.input_bias is not None,
            "output_bias": module.output_bias is not None,
        }
    if isinstance(module, TwoLayerNTK):
        return "ntk", {
            "d": int(module.input_weights.shape[1]),
            "width": module.width,
            "outputs": int(module.readout()[0].shape[1]),
            "kappa": float(module.kappa),
            "output_mode": module.output_mode,
        }
    if isinstance(module, MeanFieldTwoLayer):
        return "mean_field", {
            "d": int(module.input_weights.shape[1]),
            "width": module.width,
            "outputs": int(module.output_weights.shape[1]),
        }
    if isinstance(module, DeepMLP):
        return "deep_mlp", {
            "d": module.layers[0].in_features,
            "hidden_widths": list(module.hidden_widths),
            "outputs": module.layers[-1].out_features,
            "bias": [layer.bias is not None for layer in module.layers],
        }
    if isinstance(module, ResidualCNN):
        widths, per_stage = _stage_layout(module)
        return "cnn", {
            "in_channels": module.in_channels,
            "num_classes": module.head.out_features,
            "input_size": module.input_size,
            "widths": widths,
            "blocks_per_stage": per_stage,
            "inner_widths": [block.conv1.out_channels for block in _blocks(module)],
        }
    if isinstance(module, nn.Sequential):
        return "sequential", {"layers": _sequential_layers(module, "module")}
    raise TicketError(
        f"module must be a PrunedTwoLayer, TwoLayerNTK, MeanFieldTwoLayer, DeepMLP, ResidualCNN or an "
        f"nn.Sequential of Linear/ReLU layers; got {type(module).__name__}"
    )


def _int(arch: Mapping[str, Any], key: str) -> int:
    value = arch.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TicketError(f"architecture field {key!r} must be an integer >= 1; got {value!r}")
    return value


def _ints(arch: Mapping[str, Any], key: str) -> list[int]:
    value = arch.get(key)
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise TicketError(f"architecture field {key!r} must be a non-empty list of integers; got {value!r}")
    if min(value) < 1:
        raise TicketError(f"architecture field {key!r} must hold integers >= 1; got {value!r}")
    return value


def _flag(arch: Mapping[str, Any], key: str) -> bool:
    value = arch.get(key)
    if not isinstance(value, bool):
        raise TicketError(f"architecture field {key!r} must be true or false; got {value!r}")
    return value


def _narrow_block(block: ResidualBlock, inner: int) -> None:
    """Give a ResidualBlock `inner` inner channels (conv1 outputs = bn1 = conv2 inputs), as layer-wise GFS
    leaves it; the weights are filled by load_state_dict."""
    conv1, conv2, bn1 = block.conv1, block.conv2, block.bn1
    # ResidualCNN's convs are square, stride s, padding kernel // 2 (ebtheory.models._seeded_conv)
    size1, size2 = conv1.kernel_size[0], conv2.kernel_size[0]
    block.conv1 = nn.Conv2d(conv1.in_channels, inner, size1, conv1.stride[0], size1 // 2, bias=False)
    block.bn1 = nn.BatchNorm2d(inner, eps=bn1.eps, momentum=bn1.momentum)
    block.conv2 = nn.Conv2d(inner, conv2.out_channels, size2, conv2.stride[0], size2 // 2, bias=False)


def build_module(family: str, architecture: Mapping[str, Any]) -> nn.Module:
    """A module of `family` with the shapes in `architecture` (weights arbitrary: load a state dict next)."""
    arch = dict(architecture)
    if family == "two_layer":
        width, d, outputs = _int(arch, "width"), _int(arch, "d"), _int(arch, "outputs")
        return PrunedTwoLayer(
            torch.zeros(width, d),
            torch.zeros(width, outputs),
            torch.zeros(width) if _flag(arch, "input_bias") else None,
            torch.zeros(outputs) if _flag(arch, "output_bias") else None,
        )
    if family == "ntk":
        mode = arch.get("output_mode")
        kappa = arch.get("kappa")
        if not isinstance(kappa, int | float) or isinstance(kappa, bool) or not kappa > 0:
            raise TicketError(f"architecture field 'kappa' must be a number > 0; got {kappa!r}")
        if mode not in ("signs", "vectors"):
            raise TicketError(f"architecture field 'output_mode' must be 'signs' or 'vectors'; got {mode!r}")
        return TwoLayerNTK(_int(arch, "d"), _int(arch, "width"), _int(arch, "outputs"), float(kappa), mode)
    if family == "mean_field":
        return MeanFieldTwoLayer(_int(arch, "d"), _int(arch, "width"), _int(arch, "outputs"))
    if family == "deep_mlp":
        widths = _ints(arch, "hidden_widths")
        bias = arch.get("bias")
        if not isinstance(bias, list) or len(bias) != len(widths) + 1 or not all(isinstance(b, bool) for b in bias):
            raise TicketError(f"architecture field 'bias' must be {len(widths) + 1} booleans; got {bias!r}")
        model = DeepMLP(_int(arch, "d"), widths, _int(arch, "outputs"))
        for index, has_bias in enumerate(bias):
            if not has_bias:
                layer = cast(nn.Linear, model.layers[index])
                model.layers[index] = nn.Linear(layer.in_features, layer.out_features, bias=False)
        return model
    if family == "cnn":
        cnn = ResidualCNN(
            _int(arch, "in_channels"),
            _int(arch, "num_classes"),
            _int(arch, "input_size"),
            widths=_ints(arch, "widths"),
            blocks_per_stage=_int(arch, "blocks_per_stage"),
        )
        inner = _ints(arch, "inner_widths")
        blocks = _blocks(cnn)
        if len(inner) != len(blocks):
            raise TicketError(f"architecture field 'inner_widths' must have {len(blocks)} entries; got {inner}")
        for block, width in zip(blocks, inner):
            if width != block.conv1.out_channels:
                _narrow_block(block, width)
        return cnn
    if family == "sequential":
        return _build_sequential(arch.get("layers"))
    raise TicketError(f"family must be one of {FAMILIES}; got {family!r}")


def _build_sequential(layers: Any) -> nn.Sequential:
    if not isinstance(layers, list) or not layers:
        raise TicketError(f"architecture field 'layers' must be a non-empty list; got {layers!r}")
    built: list[nn.Module] = []
    for index, layer in enumerate(layers):
        if layer == ["relu"]:
            built.append(nn.ReLU())
            continue
        ok = (
            isinstance(layer, list)
            and len(layer) == 4
            and layer[0] == "linear"
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in layer[1:3])
            and isinstance(layer[3], bool)
        )
        if not ok:
            raise TicketError(
                f"architecture field 'layers[{index}]' must be ['relu'] or ['linear', in, out, bias]; got {layer!r}"
            )
        built.append(nn.Linear(layer[1], layer[2], bias=layer[3]))
    return nn.Sequential(*built)


# ------------------------------------------------------------------------------------------- masks


def neuron_masks(dense: nn.Module, kept: Tensor) -> dict[str, Tensor]:
    """Masks over a dense two-layer net (TwoLayerNTK, MeanFieldTwoLayer) keeping the hidden neurons with
    kept[r] (a boolean or a count > 0, shape (N,)): the rows of `input_weights` and, for the mean-field
    net, of `output_weights` (the fixed NTK output signs are a buffer, not a parameter)."""
    if not isinstance(dense, TwoLayerNTK | MeanFieldTwoLayer):
        raise ValueError(f"dense must be a TwoLayerNTK or MeanFieldTwoLayer; got {type(dense).__name__}")
    rows = torch.as_tensor(kept).reshape(-1) > 0
    if rows.shape[0] != dense.width:
        raise ValueError(f"kept must have shape (N,) = ({dense.width},); got {tuple(torch.as_tensor(kept).shape)}")
    masks = {"input_weights": rows[:, None].expand_as(dense.input_weights).clone()}
    if isinstance(dense, MeanFieldTwoLayer):
        masks["output_weights"] = rows[:, None].expand_as(dense.output_weights).clone()
    return masks


def _unit_mask(parameter: Tensor, units: Tensor, dim: int) -> Tensor:
    shape = [1] * parameter.dim()
    shape[dim] = -1
    return units.reshape(shape).expand_as(parameter).clone()


def layer_unit_masks(dense: nn.Module, selections: Mapping[str, Sequence[int]]) -> dict[str, Tensor]:
    """Masks over a dense DeepMLP, ResidualCNN or nn.Sequential that keep the units chosen at each layer
    (`selections`: layer name -> chosen unit indices, as in ebtheory.prune.layerwise.LayerwiseResult):
    the unit's outgoing weights and bias in that layer (rows of a Linear, output channels of conv1 and
    the bn1 scale and shift) and its incoming slice in the next layer (columns, conv2 input channels).

    Layer names: ``layers.i`` (DeepMLP), ``blocks.b.conv1`` (ResidualCNN), ``i`` (index of a Linear in
    an nn.Sequential of Linear / ReLU layers, the next Linear consumes its outputs).
    """
    modules = dict(dense.named_modules())
    masks: dict[str, Tensor] = {}
    for name, chosen in selections.items():
        layer = modules.get(name)
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            raise ValueError(f"selections names layer {name!r}, which is not a Linear or Conv2d of the dense model")
        width = layer.weight.shape[0]
        units = torch.zeros(width, dtype=torch.bool)
        indices = torch.as_tensor(list(chosen), dtype=torch.long)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= width):
            raise ValueError(f"selections[{name!r}] must lie in [0, {width - 1}]; got {list(chosen)}")
        units[indices] = True
        owned = [(f"{name}.weight", 0)] + ([(f"{name}.bias", 0)] if layer.bias is not None else [])
        for parameter_name, dim in owned + _next_layers(dense, name):
            owner, _, attribute = parameter_name.rpartition(".")
            mask = _unit_mask(getattr(modules[owner], attribute), units, dim)
            # a hidden Linear's weight loses its unselected rows AND the columns the layer below dropped
            masks[parameter_name] = masks[parameter_name] & mask if parameter_name in masks else mask
    return masks


def _next_layers(dense: nn.Module, name: str) -> list[tuple[str, int]]:
    """(parameter name, unit dimension) of the parameters that carry the units of layer `name` onwards."""
    if isinstance(dense, DeepMLP):
        index = int(name.split(".")[1])
        return [(f"layers.{index + 1}.weight", 1)]
    if isinstance(dense, ResidualCNN):
        block = name.rsplit(".", 1)[0]
        return [(f"{block}.bn1.weight", 0), (f"{block}.bn1.bias", 0), (f"{block}.conv2.weight", 1)]
    if isinstance(dense, nn.Sequential):
        later = [i for i, layer in enumerate(dense) if isinstance(layer, nn.Linear) and i > int(name)]
        return [(f"{later[0]}.weight", 1)] if later else []
    raise ValueError(f"dense must be a DeepMLP, ResidualCNN or nn.Sequential; got {type(dense).__name__}")


def apply_masks(dense: nn.Module, masks: Mapping[str, Tensor]) -> nn.Module:
    """Apply each mask to `dense` in place with torch.nn.utils.prune.custom_from_mask; returns `dense`."""
    modules = dict(dense.named_modules())
    for full_name, mask in masks.items():
        owner, _, name = full_name.rpartition(".")
        module = modules.get(owner)
        if module is None or not isinstance(getattr(module, name, None), Tensor):
            raise ValueError(f"mask {full_name!r} names no parameter of {type(dense).__name__}")
        prune.custom_from_mask(module, name, mask.to(getattr(module, name).device))
    return dense


# -------------------------------------------------------------------------------------- save / load


def _forward_state(module: nn.Module) -> dict[str, Tensor]:
    """`module`'s state dict as the forward pass uses it: a torch.nn.utils.prune reparametrisation
    (``name_orig``, ``name_mask``) becomes ``name = name_orig * name_mask``; the module is not touched
    (deep-copying it fails after a forward pass: the pruned tensor is then a non-leaf)."""
    state = {name: value.detach() for name, value in module.state_dict().items()}
    for owner, sub in module.named_modules():
        for hook in sub._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                prefix = f"{owner}.{hook._tensor_name}" if owner else hook._tensor_name
                state[prefix] = state.pop(f"{prefix}_orig") * state.pop(f"{prefix}_mask")
    return {name: value.cpu().contiguous().clone() for name, value in state.items()}


def _json_number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TicketError(f"numbers[{name!r}] must be a number or None; got {value!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise TicketError(f"numbers[{name!r}] must be finite; got {value}")
    return value


def save_ticket(
    path: str | os.PathLike[str],
    module: nn.Module,
    *,
    masks: Mapping[str, Tensor] | None = None,
    dense: nn.Module | None = None,
    selection: Mapping[str, Sequence[int]] | None = None,
    numbers: Mapping[str, float | None] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Save the pruned `module` as a ticket file at `path` (module docstring); returns the path.

    masks: dense parameter name -> boolean mask over `dense` (from `neuron_masks` or `layer_unit_masks`);
    dense: the dense model (its class and parameter shapes go in the header, masks are checked against
    it); selection: chosen units per layer; numbers: the recorded numbers of `module` (accuracy in [0, 1],
    sum losses); provenance: JSON-serialisable facts (run hash, m, seed, t, subnet).
    The file is written to a temporary name in the same folder, then renamed.
    """
    from safetensors.torch import save_file

    path = Path(path)
    family, architecture = architecture_of(module)
    tensors = _forward_state(module)
    mask_names: list[str] = []
    dense_info: dict[str, Any] = {}
    if dense is not None:
        shapes = {name: list(p.shape) for name, p in dense.named_parameters()}
        dense_info = {"class": type(dense).__name__, "shapes": shapes}
    for name, mask in (masks or {}).items():
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool:
            raise TicketError(f"masks[{name!r}] must be a boolean tensor; got dtype {mask.dtype}")
        if dense_info and list(mask.shape) != dense_info["shapes"].get(name):
            raise TicketError(
                f"masks[{name!r}] has shape {list(mask.shape)}; the dense parameter has {dense_info['shapes'].get(name)}"
            )
        tensors[MASK_PREFIX + name] = mask.detach().cpu().contiguous().clone()
        mask_names.append(name)
    header = TicketHeader(
        family=family,
        architecture=architecture,
        masks=tuple(mask_names),
        dense=dense_info,
        selection={str(k): [int(i) for i in v] for k, v in (selection or {}).items()},
        numbers={str(k): _json_number(str(k), v) for k, v in (numbers or {}).items()},
        provenance=json.loads(json.dumps(dict(provenance or {}), allow_nan=False)),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={HEADER_KEY: header.to_json()})
    os.replace(tmp, path)
    return path


def _header_from_json(path: Path, text: str | None) -> TicketHeader:
    if text is None:
        raise TicketError(f"{path}: not an ebtheory ticket (no {HEADER_KEY!r} metadata)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TicketError(f"{path}: the ticket header is not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise TicketError(f"{path}: the ticket header must be a JSON object")
    if data.get("format") != TICKET_FORMAT:
        raise TicketError(f"{path}: field 'format' is {data.get('format')!r}; this ebtheory reads {TICKET_FORMAT}")
    expected = {"family", "architecture", "masks", "dense", "selection", "numbers", "provenance", "format"}
    if set(data) != expected:
        raise TicketError(f"{path}: header fields must be {sorted(expected)}; got {sorted(data)}")
    if data["family"] not in FAMILIES:
        raise TicketError(f"{path}: field 'family' must be one of {FAMILIES}; got {data['family']!r}")
    if not isinstance(data["architecture"], dict):
        raise TicketError(f"{path}: field 'architecture' must be an object")
    if not isinstance(data["masks"], list) or not all(isinstance(m, str) for m in data["masks"]):
        raise TicketError(f"{path}: field 'masks' must be a list of parameter names")
    return TicketHeader(
        family=data["family"],
        architecture=data["architecture"],
        masks=tuple(data["masks"]),
        dense=data["dense"],
        selection=data["selection"],
        numbers=data["numbers"],
        provenance=data["provenance"],
    )


def load_ticket(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedTicket:
    """Read a ticket file: the rebuilt module (eval mode, on `device`), its header and its masks.

    Only safetensors and JSON are parsed; no pickle, no code from the file runs. Raises TicketError
    (a ValueError) naming the file on a missing header, an unknown family or a state dict that does not
    match the architecture; OSError when the file cannot be read."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ticket file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except SafetensorError as error:
        raise TicketError(f"{path}: not a safetensors file ({error})") from None
    header = _header_from_json(path, metadata.get(HEADER_KEY))
    try:
        module = build_module(header.family, header.architecture)
    except (TicketError, ValueError) as error:
        raise TicketError(f"{path}: {error}") from None
    masks = {name: tensors.pop(MASK_PREFIX + name) for name in header.masks if MASK_PREFIX + name in tensors}
    floating = {value.dtype for value in tensors.values() if value.is_floating_point()}
    if len(floating) == 1:
        module = module.to(floating.pop())  # keep the saved precision: a float64 ticket stays float64
    missing_masks = [name for name in header.masks if name not in masks]
    if missing_masks:
        raise TicketError(f"{path}: the header lists masks {missing_masks} that the file does not hold")
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise TicketError(f"{path}: the tensors do not match the {header.family} architecture: {error}") from None
    return LoadedTicket(module=module.to(device).eval(), header=header, masks=masks)


def load(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The ticket saved at `path` as a ready nn.Module (eval mode), without unpickling anything."""
    return load_ticket(path, device).module


# ------------------------------------------------------------------------------ a sweep's tickets


def _reparametrised_masks(module: nn.Module) -> dict[str, Tensor]:
    """The torch.nn.utils.prune masks a module carries (name -> bool), e.g. an Early-Bird or IMP ticket."""
    masks = {}
    for owner, sub in module.named_modules():
        for hook in sub._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                name = hook._tensor_name
                masks[f"{owner}.{name}" if owner else name] = getattr(sub, f"{name}_mask").detach().bool().cpu()
    return masks


@dataclass
class TicketWriter:
    """Saves the subnetworks one sweep unit (m, seed) builds (``ebtheory run --save-tickets``).

    Files: FOLDER/m{m}_s{seed}_t{t}/{name}.safetensors, names as in the point rows (gfs_labels,
    gfs_dense, magnitude, random) and ticket_earlybird, ticket_gfs, ticket_imp for the Early-Bird
    comparison at t_EB. at: the checkpoints t whose point subnetworks are saved (the Early-Bird
    tickets are saved whenever they are built); provenance: JSON facts added to every header.
    Masks over the dense model come from the counts (two-layer), the per-layer selections (layer-wise)
    or the module's own torch.nn.utils.prune masks (Early-Bird and IMP tickets of the dense shape).
    """

    folder: Path
    m: int
    seed: int
    at: frozenset[int]
    provenance: dict[str, Any] = field(default_factory=dict)

    def path(self, t: int, name: str) -> Path:
        """Where the ticket `name` of checkpoint t goes."""
        return Path(self.folder) / f"m{self.m}_s{self.seed}_t{t}" / f"{name}.safetensors"

    def wants(self, t: int) -> bool:
        """Whether the point subnetworks of checkpoint t are saved."""
        return int(t) in self.at

    def save(
        self,
        name: str,
        t: int,
        module: nn.Module,
        numbers: Any,
        *,
        dense: nn.Module | None = None,
        counts: Tensor | None = None,
        selection: Mapping[str, Sequence[int]] | None = None,
    ) -> Path:
        """Save `module` (with its recorded `numbers`: a mapping or a dataclass of floats) as ticket `name`
        of checkpoint t; masks from `counts` (two-layer dense net: neuron multiplicities) or `selection`
        (layer-wise) over `dense`, else the module's own prune masks."""
        is_record = dataclasses.is_dataclass(numbers) and not isinstance(numbers, type)
        values = dataclasses.asdict(numbers) if is_record else dict(numbers)
        masks: dict[str, Tensor] = {}
        chosen: dict[str, list[int]] = {}
        if counts is not None and dense is not None:
            counts = torch.as_tensor(counts).cpu()
            masks = neuron_masks(dense, counts)
            chosen = {"hidden": torch.repeat_interleave(torch.arange(len(counts)), counts.long()).tolist()}
        elif selection is not None and dense is not None:
            masks = layer_unit_masks(dense, selection)
            chosen = {str(k): [int(i) for i in v] for k, v in selection.items()}
        else:
            masks = _reparametrised_masks(module)
        provenance = {**self.provenance, "m": self.m, "seed": self.seed, "t": int(t), "subnet": name}
        return save_ticket(
            self.path(int(t), name),
            module,
            masks=masks,
            dense=dense,
            selection=chosen,
            numbers=values,
            provenance=provenance,
        )
