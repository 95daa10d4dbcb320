"""Reading a student's saved files in the checks without running anything they contain.

Checks never unpickle a student's file: ``torch.load`` runs with ``weights_only=True``
(tensors and plain containers only), NumPy files load with ``allow_pickle=False``, and
weights go into the kit's own reference architecture, so a check scores the student's
numbers with trusted code. Weights are paired the way the architecture allows, never by
an accident of naming or assignment order (:func:`pair_weights`): by name when the two
state dicts hold the same names with the same shapes (whatever order the attributes were
assigned in), else by order and shape (other names, the same layers in the same order).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Tuple, Union

__all__ = ["UnsafeFileError", "load_tensors", "load_by_order", "load_weights", "pair_weights"]

PathLike = Union[str, "os.PathLike[str]"]


class UnsafeFileError(ValueError):
    """A student's file holds more than plain tensors (a pickled object, code)."""


def load_tensors(path: PathLike) -> Dict[str, Any]:
    """A ``state_dict`` from ``path`` (a bare state_dict, or a kit checkpoint's ``"generator"``)."""
    import pickle

    import torch

    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeFileError(
            f"{os.path.basename(os.fspath(path))} holds more than tensors (a whole pickled model?); "
            "save the weights only: torch.save(generator.state_dict(), path)") from error
    if isinstance(state, dict) and isinstance(state.get("generator"), dict):
        state = state["generator"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnsafeFileError(f"{os.path.basename(os.fspath(path))} is not a state_dict of tensors")
    return state


def _shape(value: Any) -> tuple:
    return tuple(int(n) for n in (value if isinstance(value, (tuple, list)) else value.shape))


def _describe(shapes: Dict[str, tuple], limit: int = 12) -> str:
    items = [f"{name} {shape}" for name, shape in shapes.items()]
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def pair_weights(targets: Dict[str, Any], sources: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """Pair the tensors of ``sources`` (a state_dict) with the entries of ``targets`` (name ->
    a tensor or a shape, in the module's order). Returns ``("name" | "order", {target name:
    source tensor})``:

    - by name when both hold the same names and every name has the same shape there;
    - else by order and shape: the i-th source tensor goes to the i-th target, all shapes equal.

    Raises ValueError naming the first tensor that pairs neither way."""
    wanted = {name: _shape(value) for name, value in targets.items()}
    given = {name: _shape(value) for name, value in sources.items()}
    if set(wanted) == set(given) and all(wanted[name] == given[name] for name in wanted):
        return "name", {name: sources[name] for name in wanted}
    if [*wanted.values()] == [*given.values()]:
        return "order", dict(zip(wanted, sources.values()))
    if len(wanted) != len(given):
        problem = f"{len(given)} tensors where the network has {len(wanted)}"
    else:
        index = next(i for i, (a, b) in enumerate(zip(wanted.values(), given.values())) if a != b)
        problem = (f"tensor number {index + 1} ({[*given][index]}) has shape {[*given.values()][index]} "
                   f"where the network's {[*wanted][index]} needs {[*wanted.values()][index]}")
    raise ValueError(
        f"the weights fit the network neither by name nor by layer order and shape: {problem}. "
        f"Saved: {_describe(given)}. Needed: {_describe(wanted)}.")


def load_weights(module: Any, state: Dict[str, Any]) -> str:
    """Copy ``state``'s tensors into ``module`` (see :func:`pair_weights`), converted to the
    module's dtypes; returns how they were paired, ``"name"`` or ``"order"``."""
    targets = module.state_dict()
    how, paired = pair_weights(targets, state)
    module.load_state_dict({name: source.to(targets[name].dtype) for name, source in paired.items()})
    return how


def load_by_order(module: Any, state: Dict[str, Any]) -> Any:
    """Copy ``state``'s tensors into ``module`` and return the module: by name when the names
    and shapes match, else by order and shape (``self.net.0.weight`` or ``self.fc1.weight``);
    see :func:`pair_weights`. ValueError when neither fits."""
    load_weights(module, state)
    return module
