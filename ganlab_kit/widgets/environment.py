"""Where the widgets are shown: a person's live notebook, or a headless execution.

Live widgets need a front end that renders them and a person who clicks. When a
notebook is executed by a program instead (``nbgrader autograde`` or
``generate_solution``, ``jupyter nbconvert --execute``, ``jupyter execute``,
papermill, a plain ``python`` script), the kit's widgets show a static PNG of
their final state: executed notebooks stay small, and feedback shows the plots.

The decision, in order:

1. ``GANLAB_WIDGETS=live`` or ``GANLAB_WIDGETS=static`` (the override) wins.
2. ``NBGRADER_EXECUTION`` set (nbgrader executing the notebook): static.
3. No IPython kernel (a script, a test, a terminal): static.
4. The running cell was sent by a client that cannot answer ``input()``
   (``allow_stdin`` false: nbclient, hence nbconvert, nbgrader, papermill): static.
5. Otherwise: live.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional

__all__ = ["DISPLAY_ENV", "DISPLAY_MODES", "display_mode", "is_headless", "show_png"]

#: Environment variable that forces the display mode: "live", "static" or "auto".
DISPLAY_ENV = "GANLAB_WIDGETS"
#: The values :func:`display_mode` returns.
DISPLAY_MODES = ("live", "static")


def current_kernel() -> Optional[Any]:
    """The running ipykernel ``Kernel`` instance, or None outside a Jupyter kernel.

    Never imports ipykernel itself: if the module is not loaded, there is no kernel.
    """
    kernelbase = sys.modules.get("ipykernel.kernelbase")
    if kernelbase is None:
        return None
    kernel_class = getattr(kernelbase, "Kernel", None)
    if kernel_class is None or not kernel_class.initialized():
        return None
    return kernel_class.instance()


def _current_request(kernel: Any) -> dict:
    try:
        parent = kernel.get_parent("shell")
    except Exception:  # an older kernel without get_parent(channel)
        parent = getattr(kernel, "_parent_header", None) or {}
    return parent if isinstance(parent, dict) else {}


def current_request_id() -> Optional[str]:
    """The msg_id of the execute request (notebook cell) running now, if any."""
    kernel = current_kernel()
    if kernel is None:
        return None
    parent = _current_request(kernel)
    header = parent.get("header") or {}
    if header.get("msg_type") != "execute_request":
        return None
    return header.get("msg_id")


def is_headless() -> bool:
    """True when the notebook runs without a person watching (see the module docstring)."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return True
    kernel = current_kernel()
    if kernel is None:
        return True
    parent = _current_request(kernel)
    content = parent.get("content") or {}
    header = parent.get("header") or {}
    if header.get("msg_type") == "execute_request" and not content.get("allow_stdin", True):
        return True
    return False


def display_mode() -> str:
    """``"live"`` (ipywidgets) or ``"static"`` (a PNG of the final state)."""
    forced = os.environ.get(DISPLAY_ENV, "auto").strip().lower()
    if forced in DISPLAY_MODES:
        return forced
    if forced not in ("", "auto"):
        raise ValueError(
            f"{DISPLAY_ENV}={forced!r} is not a display mode; set it to 'live', 'static' or 'auto'"
        )
    return "static" if is_headless() else "live"


def show_png(png: bytes) -> None:
    """Display PNG bytes as a plain ``image/png`` output (what a static widget leaves)."""
    from IPython.display import Image, display

    display(Image(data=png, format="png"))
