"""Button clicks that reach Python while a notebook cell is still running.

The problem: a cell such as ``dashboard.run(2000)`` keeps the kernel's main thread
busy, and the kernel queues every message from the browser, button clicks
included, until the cell ends. A Pause button would act only after training.

The fix used here: ipykernel 7 receives every shell message on its own "shell
channel" thread, which stays free while a cell runs. For a comm message it asks
the target comm ``_reply_subshell_for(data, default)`` which subshell should
handle it. :func:`route_clicks_early` wraps that method on one button's comm so the
shell channel thread also calls ``on_early_click()`` the moment a click arrives.
The message then goes on to the main thread as usual, so the button's ordinary
``on_click`` handlers still run later; :class:`EarlyClicks` counts the early clicks
so those late handlers can skip what was already done.

``on_early_click`` runs on the kernel's I/O thread: it must be quick, thread-safe
and must not raise (set an event, call ``trainer.pause()``). Where the kernel has
no such thread (ipykernel < 7, no kernel at all), nothing is wrapped and clicks
act when the cell ends; ``run(steps, block=False)`` keeps the buttons live there.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict

from .environment import current_kernel

__all__ = ["EarlyClicks", "is_click", "route_clicks_early"]

_log = logging.getLogger(__name__)


def is_click(data: Any) -> bool:
    """Is this comm message data the front end's button click ``{"method": "custom", ...}``?"""
    if not isinstance(data, dict) or data.get("method") != "custom":
        return False
    content = data.get("content")
    return isinstance(content, dict) and content.get("event") == "click"


def route_clicks_early(button: Any, on_early_click: Callable[[], None],
                       require_kernel: bool = True) -> bool:
    """Call ``on_early_click()`` on the kernel's shell channel thread for each click.

    Returns True if the button's comm supports it (ipykernel 7 with its shell
    channel thread), False where clicks can only act between cells.
    """
    comm = getattr(button, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None or getattr(route, "_ganlab_early_clicks", False):
        return route is not None
    if require_kernel:
        kernel = current_kernel()
        if kernel is None or getattr(kernel, "shell_channel_thread", None) is None:
            return False

    def reply_subshell_for(data: Any, default: Any) -> Any:
        if is_click(data):
            try:
                on_early_click()
            except Exception:  # never break the kernel's message routing
                _log.exception("early click handler failed")
        return route(data, default)

    reply_subshell_for._ganlab_early_clicks = True  # type: ignore[attr-defined]
    comm._reply_subshell_for = reply_subshell_for
    return True


class EarlyClicks:
    """Counts clicks handled early, per action, so the late ``on_click`` can skip them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Dict[str, int] = {}

    def handled(self, action: str) -> None:
        """The shell channel thread acted on a click of ``action``."""
        with self._lock:
            self._pending[action] = self._pending.get(action, 0) + 1

    def consume(self, action: str) -> bool:
        """True (and forget it) if this click of ``action`` was already handled early."""
        with self._lock:
            count = self._pending.get(action, 0)
            if count:
                self._pending[action] = count - 1
                return True
            return False
