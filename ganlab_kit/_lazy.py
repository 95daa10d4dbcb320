"""Module attributes that import their sub-module on first use (PEP 562)."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Tuple

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Dict[str, str]
                    ) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps each public name to
    the sub-module (relative, without the dot) that defines it."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module_name}", package), name)
        namespace[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> List[str]:
        return sorted(names)

    return __getattr__, __dir__
