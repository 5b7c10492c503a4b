"""Pruning: exact two-layer greedy forward selection (gfs), layer-wise GFS for deep nets (layerwise),
magnitude and random baselines (baselines), Early-Bird masks (earlybird), lottery tickets (imp)."""

from ebtheory.prune.baselines import magnitude_selection, random_selection, subnetwork_from_indices
from ebtheory.prune.gfs import (
    GFSResult,
    PrunedTwoLayer,
    atom_gram,
    atom_spread,
    greedy_forward_selection,
    greedy_forward_selection_naive,
    pruned_two_layer,
)

__all__ = [
    "GFSResult",
    "PrunedTwoLayer",
    "atom_gram",
    "atom_spread",
    "greedy_forward_selection",
    "greedy_forward_selection_naive",
    "magnitude_selection",
    "pruned_two_layer",
    "random_selection",
    "subnetwork_from_indices",
]
