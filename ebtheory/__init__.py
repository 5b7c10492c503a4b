"""ebtheory: theory and verification toolkit for early-bird lottery tickets.

How much dense pre-training is enough before greedy forward selection finds a good subnetwork?
Modules (data flows one way, left to right):

    data -> models -> train -> (constants, prune) -> verify (rows) -> report, figures
    symbolic: the bound as sympy expressions, evaluated numerically from the same expressions.
"""

__version__ = "0.1.0"
