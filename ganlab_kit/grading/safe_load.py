"""Reading a student's saved files in the checks without running anything they contain.

Checks never unpickle a student's file: ``torch.load`` runs with ``weights_only=True``
(tensors and plain containers only), NumPy files load with ``allow_pickle=False``, and
weights go into the kit's own reference architecture by order and shape, so a check
scores the student's numbers with trusted code.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Union

__all__ = ["UnsafeFileError", "load_tensors", "load_by_order"]

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


def load_by_order(module: Any, state: Dict[str, Any]) -> Any:
    """Copy ``state``'s tensors into ``module``'s parameters and buffers in order, matching
    shapes (names may differ: ``self.net.0.weight`` or ``self.fc1.weight``)."""
    import torch

    targets = list(module.state_dict().items())
    sources = [tensor for tensor in state.values()]
    if len(targets) != len(sources) or any(tuple(t.shape) != tuple(s.shape)
                                           for (_, t), s in zip(targets, sources)):
        wanted = [tuple(t.shape) for _, t in targets]
        got = [tuple(s.shape) for s in sources]
        raise ValueError(f"the saved weights have shapes {got}, the lab's network needs {wanted}")
    module.load_state_dict({name: source.to(target.dtype) for (name, target), source in zip(targets, sources)})
    return module
