"""The live training dashboard: curves, samples, progress, alarms, Start / Pause / Stop.

Usage in a notebook cell (PyTorch track)::

    dashboard = TrainingDashboard(trainer)
    history = dashboard.run(2000)   # shows the dashboard, trains, returns the History

Keras track: ``gan.fit(..., callbacks=[dashboard.keras_callback(batch_size=64)])``.

How Pause and Stop work while the cell is still running: see
:mod:`ganlab_kit.widgets._clicks` (the kernel's shell channel thread acts on the
click at once). ``run(steps, block=False)`` instead trains in a background thread
and the cell finishes at once; ``dashboard.wait()`` then returns the History.
Headless executions (nbgrader, nbconvert; see :mod:`ganlab_kit.widgets.environment`)
always train synchronously and leave one static PNG instead of widgets.
"""
from __future__ import annotations

import html
import sys
import threading
from functools import partial
from typing import Any, Dict, Optional, Union

import numpy as np

from ..torch_gan.trainer import Callback, History
from . import drawing
from ._clicks import EarlyClicks, route_clicks_early
from .alarms import AlarmMonitor
from .environment import current_kernel, current_request_id, display_mode, show_png
from .state import DashboardState, RedrawThrottle

__all__ = ["TrainingDashboard", "DashboardView"]

ACTIONS = ("start", "pause", "stop")


def _ipython_running() -> bool:
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def _keras_planned_steps(trainer: Any) -> Optional[int]:
    params = getattr(trainer, "params", None) or {}
    epochs, steps = params.get("epochs"), params.get("steps")
    if isinstance(epochs, int) and isinstance(steps, int):
        return epochs * steps
    return None


class DashboardView:
    """The ipywidgets of a dashboard; it only maps a :class:`DashboardState` to traits."""

    def __init__(self, title: str) -> None:
        import ipywidgets as widgets

        self.title = title
        button_layout = widgets.Layout(width="90px")
        self.start_button = widgets.Button(description="Start", icon="play",
                                           button_style="success", layout=button_layout)
        self.pause_button = widgets.Button(description="Pause", icon="pause",
                                           button_style="warning", layout=button_layout)
        self.stop_button = widgets.Button(description="Stop", icon="stop",
                                          button_style="danger", layout=button_layout)
        self.buttons = {"start": self.start_button, "pause": self.pause_button,
                        "stop": self.stop_button}
        self.status = widgets.HTML()
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(
            flex="1 1 auto", width="auto", min_width="60px", max_width="420px"))
        label_layout = widgets.Layout(margin="0 0 0 12px")
        self.step_label = widgets.Label(layout=label_layout)
        self.speed_label = widgets.Label(layout=label_layout)
        # side by side at any cell width: each image scales down to its share of the row
        self.curves = widgets.Image(format="png", layout=widgets.Layout(
            width="47%", max_width="440px", height="auto"))
        self.samples = widgets.Image(format="png", layout=widgets.Layout(
            width="51%", max_width="484px", height="auto", margin="0 0 0 1%"))
        self.alarms = widgets.HTML()
        self.error = widgets.HTML()  # an error inside a button's handler, shown here (not only in the log)
        for widget, name in ((self.error, "error"), (self.start_button, "start"), (self.pause_button, "pause"),
                             (self.stop_button, "stop"), (self.status, "status"),
                             (self.progress, "progress"), (self.step_label, "step"),
                             (self.speed_label, "speed"), (self.curves, "curves"),
                             (self.samples, "samples"), (self.alarms, "alarms")):
            widget.add_class(f"ganlab-{name}")
        self.box = widgets.VBox([
            widgets.HBox([self.status, self.step_label, self.speed_label],
                         layout=widgets.Layout(align_items="center", flex_flow="row wrap")),
            widgets.HBox([self.start_button, self.pause_button, self.stop_button, self.progress],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([self.curves, self.samples],
                         layout=widgets.Layout(align_items="flex-start")),
            self.alarms,
            self.error,
        ])
        self.box.add_class("ganlab-dashboard")
        self.samples_version = -1  # the snapshot version on screen
        self.note = ""  # shown after the status, e.g. why buttons wait for the cell to end

    def show_controls(self, state: DashboardState, enabled: Dict[str, bool]) -> None:
        """Status line, progress, labels and which buttons are enabled."""
        color = {"running": "#1a7f37", "paused": "#b26b00", "failed": "#c62828",
                 "stopped": "#555", "finished": "#1f4e9b"}.get(state.status, "#555")
        self.status.value = (f"<b>{html.escape(self.title)}</b> &middot; "
                             f"<span style='color:{color}'>{state.status}</span>"
                             + (f" &middot; {html.escape(state.error)}" if state.error else "")
                             + (f" <i style='color:#777'>({html.escape(self.note)})</i>"
                                if self.note else ""))
        self.progress.value = state.progress
        self.progress.bar_style = {"finished": "success", "failed": "danger",
                                   "paused": "warning"}.get(state.status, "info")
        self.step_label.value = state.step_text()
        self.speed_label.value = state.speed_text()
        self.start_button.description = "Resume" if state.status == "paused" else "Start"
        for action, button in self.buttons.items():
            button.disabled = not enabled[action]

    def show_alarms(self, state: DashboardState) -> None:
        rows = []
        for alarm in state.alarms:
            if alarm.active:
                rows.append("<div style='color:#b71c1c;background:#fdecea;padding:2px 6px;"
                            f"margin:2px 0'>&#9888; step {alarm.step}: "
                            f"{html.escape(alarm.message)}</div>")
            else:
                rows.append(f"<div style='color:#777;padding:2px 6px'>cleared at step "
                            f"{alarm.cleared_step}: {html.escape(alarm.message)}</div>")
        self.alarms.value = "".join(rows) or "<span style='color:#777'>No failure-mode alarms.</span>"


class TrainingDashboard(Callback):
    """Live view of a GAN run, attached to a trainer as a :class:`~ganlab_kit.torch_gan.Callback`.

    Shows D and G losses, D's accuracy on real and fake images, mean D(x) and
    D(G(z)), samples from the fixed noise, a progress bar with examples/second and
    ETA, failure-mode alarms, and Start / Pause / Stop buttons.

    Args:
        trainer: a :class:`~ganlab_kit.torch_gan.Trainer` (needed by :meth:`run` and
            the Start button; a Keras run passes its bridge instead).
        title: heading of the dashboard.
        refresh_seconds: at most one redraw per this many seconds.
        max_overhead: and at most this share of the time spent drawing (the wait
            after a redraw grows with its cost).
        alarms: True for the default :class:`AlarmMonitor`, False for none, or your own.
        columns: columns of the sample grid.
        quality_every: the live quality readout: every this many steps the kit's digit
            classifier scores ``quality_samples`` samples (seeded noise, the trainer's
            weight average when it keeps one) and a fourth panel shows the inception
            score, the digits covered and the confident share against the kit's quality
            bar. ``"auto"``: every 500 steps when the trainer learns all ten offline MNIST
            digits (28 x 28, one channel), else off; 0 or None: off. Live, scoring is
            skipped whenever it would take more than 1 % of the time.
        quality_samples: samples scored per point of the readout.
    """

    def __init__(self, trainer: Optional[Any] = None, *, title: str = "GAN training",
                 refresh_seconds: float = 1.0, max_overhead: float = 0.015,
                 alarms: Union[bool, AlarmMonitor] = True, columns: int = 8,
                 quality_every: Union[str, int, None] = "auto", quality_samples: int = 500) -> None:
        if alarms is True:
            monitor: Optional[AlarmMonitor] = AlarmMonitor()
        elif alarms is False or alarms is None:
            monitor = None
        elif isinstance(alarms, AlarmMonitor):
            monitor = alarms
        else:
            raise TypeError(f"alarms must be True, False or an AlarmMonitor, got {alarms!r}")
        self.trainer = trainer
        self.title = title
        self.columns = columns
        self.state = DashboardState(monitor)
        self.throttle = RedrawThrottle(refresh_seconds, max_overhead)
        # the mode-collapse check runs the classifier (tens of ms): live, at most 0.5% of the
        # time; headless (no view), at every snapshot, so the static PNG is reproducible
        self.check_throttle = RedrawThrottle(0.0, 0.005)
        self.quality_every = quality_every
        self.quality_samples = int(quality_samples)
        self.quality_throttle = RedrawThrottle(0.0, 0.01)  # scoring: at most 1 % of the time
        self._view: Optional[DashboardView] = None
        self._in_use: Optional[Any] = None  # the trainer (or Keras bridge) training now
        self._training = threading.Event()
        self._ui_lock = threading.RLock()
        self._early_clicks = EarlyClicks()
        self._thread: Optional[threading.Thread] = None
        self._thread_error: Optional[BaseException] = None
        self._pending_planned: Optional[int] = None
        self._run_steps: Optional[int] = None
        self._shown_in: Optional[str] = None  # the cell (execute request) showing the view
        self._quality_every_now = 0  # the readout's interval in the current run
        self.live_clicks = False  # True once clicks can act while a cell runs

    # ------------------------------------------------------------------ widgets
    @property
    def view(self) -> DashboardView:
        """The ipywidgets (built on first use; headless runs never build them)."""
        if self._view is None:
            view = DashboardView(self.title)
            early = []
            for action, button in view.buttons.items():
                button.on_click(partial(self._on_click, action))
                early.append(route_clicks_early(button, partial(self._on_early_click, action)))
            self.live_clicks = all(early)
            if not self.live_clicks and current_kernel() is not None:
                view.note = ("this kernel handles clicks only between cells; "
                             "run(steps, block=False) keeps the buttons live")
            self._view = view
            self._refresh(force=True)
        return self._view

    @property
    def widget(self):
        """The dashboard's top-level ipywidgets ``VBox``."""
        return self.view.box

    def display(self) -> None:
        """Show the live widget, or, headless, a PNG of the current state."""
        if display_mode() == "live":
            from IPython.display import display

            self._shown_in = current_request_id()
            display(self.widget)
        else:
            show_png(self.to_png())

    def _ipython_display_(self) -> None:
        self.display()

    def _show_in_this_cell(self) -> None:
        """Display the live view once per cell (run() and a bare fit() both call this)."""
        request = current_request_id()
        if request is None or request == self._shown_in or display_mode() != "live":
            return
        self.display()

    def to_png(self, live: bool = False) -> bytes:
        """The whole dashboard as PNG bytes; ``live=False`` leaves out wall-clock numbers
        (examples/second, ETA), so a seeded run gives the same bytes every time."""
        return drawing.png_bytes(drawing.draw_dashboard(self.state, self.title, self.columns, live))

    def save_png(self, path) -> None:
        """Write :meth:`to_png` to ``path``."""
        with open(path, "wb") as file:
            file.write(self.to_png())

    # ------------------------------------------------------------------ drawing
    def _control(self) -> Optional[Any]:
        return self._in_use if self._in_use is not None else self.trainer

    def _enabled(self) -> Dict[str, bool]:
        training = self._training.is_set()
        paused = self.state.status == "paused"
        thread = self._thread
        # on_train_end redraws from the training thread itself, which is still alive then:
        # the run is over for the buttons (else Start stays greyed out after a run ends)
        busy = training or (thread is not None and thread.is_alive() and thread is not threading.current_thread())
        return {"start": paused or (not busy and self.trainer is not None),
                "pause": training and not paused, "stop": training}

    def _refresh_controls(self) -> None:
        view = self._view
        if view is None:
            return
        with self._ui_lock:
            view.show_controls(self.state, self._enabled())

    def _refresh(self, force: bool = False) -> None:
        """Redraw the view if one exists and a redraw is due (always when ``force``)."""
        view = self._view
        if view is None or not (force or self.throttle.due()):
            return
        started = self.throttle.clock()
        with self._ui_lock:
            curves = drawing.png_bytes(drawing.draw_curves(self.state), fast=True)
            samples = None
            if view.samples_version != self.state.snapshot_version:
                samples = drawing.png_bytes(drawing.draw_samples(self.state, self.columns), fast=True)
            view.curves.value = curves
            if samples is not None:
                view.samples.value = samples
                view.samples_version = self.state.snapshot_version
            view.show_controls(self.state, self._enabled())
            view.show_alarms(self.state)
        self.throttle.done(started)

    # ------------------------------------------------------------------ buttons
    def _on_click(self, action: str, _button: Any = None) -> None:
        """A button's ordinary handler (main thread, once the kernel is free)."""
        if self._early_clicks.consume(action):
            return  # already done the moment the click arrived
        self._guarded(action, self._apply, action)

    def _on_early_click(self, action: str) -> None:
        """On the kernel's shell channel thread, as a click arrives (see ``_clicks``)."""
        if not self._training.is_set():
            return  # nothing is running: the ordinary handler will act
        self._guarded(action, self._apply, action, early=True)
        self._early_clicks.handled(action)

    def _guarded(self, action: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        """Run a button's handler; an error shows in the dashboard's error line (ipywidgets
        would send it only to JupyterLab's log console) and the controls are redrawn."""
        view = self._view
        try:
            handler(*args, **kwargs)
        except Exception as error:  # shown to the student where they clicked
            if view is not None:
                view.error.value = (f"<div style='color:#c62828'>{html.escape(action.capitalize())} failed: "
                                    f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</div>")
            self._refresh_controls()
            return
        if view is not None and view.error.value:
            view.error.value = ""

    def _apply(self, action: str, early: bool = False) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {ACTIONS}")
        control = self._control()
        launch = False
        with self._ui_lock:  # serialised with on_step_end's reading of the pause state
            if action == "start":
                if self._training.is_set():
                    if control is not None and control.is_paused:
                        control.resume()
                        self.state.set_paused(False)
                else:
                    launch = not early and self.trainer is not None and not self.is_training
            elif self._training.is_set() and control is not None:
                if action == "pause":
                    control.pause()
                    self.state.set_paused(True)
                else:
                    control.stop()
            if action == "pause":  # show where training halts: the curves too, not only labels
                self._refresh(force=True)
            else:
                self._refresh_controls()
        if launch:
            self._start_background(self._next_run_steps())

    def start(self) -> None:
        """What the Start button does: resume a paused run, or train in the background."""
        self._apply("start")

    def pause(self) -> None:
        """What the Pause button does: hold training before its next step."""
        self._apply("pause")

    def stop(self) -> None:
        """What the Stop button does: end training after the current step."""
        self._apply("stop")

    # ------------------------------------------------------------------ training
    @property
    def is_training(self) -> bool:
        """True while a run is in progress (here or in a background thread)."""
        thread = self._thread
        return self._training.is_set() or (thread is not None and thread.is_alive())

    def _require_trainer(self) -> Any:
        if self.trainer is None:
            raise ValueError(
                "this dashboard has no trainer; create it with TrainingDashboard(trainer), or "
                "for Keras pass dashboard.keras_callback() to fit()")
        return self.trainer

    def _attach(self, trainer: Any) -> None:
        if self not in trainer.callbacks:
            trainer.callbacks.append(self)

    def _next_run_steps(self) -> int:
        trainer = self._require_trainer()
        target = self.state.target_step
        if target is not None and trainer.step < target:
            return target - trainer.step
        return self._run_steps or trainer.config.steps

    def run(self, steps: Optional[int] = None, block: bool = True) -> History:
        """Show the dashboard, train ``steps`` steps (default ``config.steps``), return the History.

        ``block=True`` (the default) returns when training ends, so the next cells see the
        trained model; Pause / Stop still act at once in JupyterLab (ipykernel 7).
        ``block=False`` trains in a background thread and returns the History at once (it
        fills in as training goes; :meth:`wait` waits for the end). Headless executions
        always block.
        """
        trainer = self._require_trainer()
        if self.is_training:
            raise RuntimeError("this dashboard is already training; press Stop or call "
                               "dashboard.wait() first")
        steps = trainer.config.steps if steps is None else int(steps)
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self._run_steps = steps
        live = display_mode() == "live"
        if live:
            self._show_in_this_cell()
        if block or not live:
            self._attach(trainer)
            self._pending_planned = trainer.planned_steps(steps)
            return trainer.fit(steps)
        self._start_background(steps)
        return trainer.history

    def _start_background(self, steps: int) -> None:
        trainer = self._require_trainer()
        self._attach(trainer)
        self._pending_planned = trainer.planned_steps(steps)
        self._thread_error = None

        def train() -> None:
            try:
                trainer.fit(steps)
            except BaseException as error:  # shown on the dashboard, re-raised by wait()
                self._thread_error = error

        self._thread = threading.Thread(target=train, name="ganlab-dashboard-training", daemon=True)
        self._thread.start()

    def wait(self, timeout: Optional[float] = None) -> History:
        """Wait for a background run (``run(block=False)`` or Start) and return its History."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"training still running after {timeout} s")
        if self._thread_error is not None:
            error, self._thread_error = self._thread_error, None
            raise error
        return self._require_trainer().history

    def keras_callback(self, batch_size: Optional[int] = None, snapshot_every: int = 100,
                       n_fixed: int = 64, seed: Optional[int] = 0, generator: Any = None):
        """A Keras callback that feeds this dashboard (``ganlab_kit.keras_gan.KerasHistoryBridge``).

        ``gan.fit(data, epochs=5, callbacks=[dashboard.keras_callback(batch_size=64)])``;
        Pause / Stop act on that ``fit``. Imports TensorFlow.
        """
        from ..keras_gan import KerasHistoryBridge

        return KerasHistoryBridge(self, batch_size=batch_size, snapshot_every=snapshot_every,
                                  n_fixed=n_fixed, seed=seed, generator=generator)

    # ------------------------------------------------------------------ Callback hooks
    def on_train_begin(self, trainer: Any) -> None:
        self._in_use = trainer
        planned = self._pending_planned if trainer is self.trainer else None
        if planned is None:
            planned = _keras_planned_steps(trainer)
        self._pending_planned = None
        self._catch_up_history(trainer)
        self._quality_every_now = self._quality_interval(trainer)
        self.state.begin(int(getattr(trainer, "step", self.state.step)), planned)
        self.state.note = self._empty_run_note(trainer, planned)
        self._training.set()
        self.throttle.reset()  # the first step redraws everything
        self._show_in_this_cell()
        self._refresh_controls()

    def _quality_interval(self, trainer: Any) -> int:
        """Steps between two quality scores for ``trainer`` (0: no readout)."""
        every = self.quality_every
        if every != "auto":
            return int(every or 0)
        data = getattr(trainer, "data", None)
        name = str(getattr(data, "name", ""))
        labels = getattr(data, "labels", None)
        images = getattr(data, "images", None)
        digits = (name.startswith("mnist") and labels is not None and images is not None
                  and len(set(labels.tolist())) == 10 and tuple(images.shape[1:]) == (1, 28, 28))
        return 500 if digits else 0

    def _score_quality(self, trainer: Any) -> None:
        from ..scoring import QUALITY_BAR, score_generator

        live = self._view is not None
        if live and not self.quality_throttle.due():
            return
        started = self.quality_throttle.clock()
        sampler = getattr(trainer, "sampler", None) or getattr(trainer, "generator")
        scores = score_generator(sampler, n=self.quality_samples, seed=0, reference=None)
        with self._ui_lock:
            self.state.quality_bar = QUALITY_BAR
            self.state.quality_samples = self.quality_samples
            self.state.add_quality(int(trainer.step), scores)
        if live:
            self.quality_throttle.done(started)

    def on_step_end(self, trainer: Any, record: Dict[str, float]) -> None:
        every = self._quality_every_now
        if every and int(record.get("step", 0)) % every == 0 and hasattr(trainer, "generator"):
            self._score_quality(trainer)
        with self._ui_lock:  # a click on another thread may be pausing right now
            self.state.add_record(record)
            paused = bool(getattr(trainer, "is_paused", False))
            stopping = bool(getattr(trainer, "stop_requested", False))
            self.state.set_paused(paused)
        self._refresh(force=paused or stopping)  # the screen must show where it halts

    def on_snapshot(self, trainer: Any, step: int, images: Any) -> None:
        if hasattr(images, "detach"):
            images = images.detach().cpu().numpy()
        live = self._view is not None
        check = not live or self.check_throttle.due()
        started = self.check_throttle.clock()
        self.state.add_snapshot(step, np.asarray(images), check_alarms=check)
        if check and live:
            self.check_throttle.done(started)

    @staticmethod
    def _empty_run_note(trainer: Any, planned: Optional[int]) -> Optional[str]:
        """Why a run trains no step (grading), said on the dashboard instead of empty curves."""
        if planned != 0 or len(getattr(trainer, "history", ()) or ()) or not hasattr(trainer, "generator"):
            return None
        path = getattr(trainer, "checkpoint_path", None)
        if getattr(trainer, "loaded_from_checkpoint", False) and path is not None:
            return (f"{path.name} loaded: trained before grading (its curves are not saved in "
                    "the file); the samples are the loaded generator's")
        from ..config import GradingBudget

        if GradingBudget.from_environment().active:
            return "not trained while grading: the autograder does not retrain this run"
        return None

    def _catch_up_history(self, trainer: Any) -> None:
        """Steps the dashboard did not see: trained before it was attached, or loaded
        from a checkpoint."""
        history = getattr(trainer, "history", None)
        if isinstance(history, History) and len(history) > len(self.state.steps):
            self.state.add_history(history.step, history.to_dict())

    def _catch_up(self, trainer: Any) -> None:
        """History and a final sample grid the dashboard did not see."""
        self._catch_up_history(trainer)
        step = getattr(trainer, "step", None)
        if step is not None and self.state.snapshot_step != step and hasattr(trainer, "sample"):
            self.state.add_snapshot(step, trainer.sample().cpu().numpy(), check_alarms=False)

    def on_train_end(self, trainer: Any) -> None:
        error = sys.exc_info()[1]  # set when fit is unwinding from an exception
        self._training.clear()
        try:
            if error is None:
                self._catch_up(trainer)
        finally:
            if isinstance(error, KeyboardInterrupt):
                self.state.end(stopped=True)
            elif error is not None:
                self.state.end(error=f"{type(error).__name__}: {error}")
            else:
                self.state.end(stopped=bool(getattr(trainer, "stop_requested", False)))
            self._in_use = None
            self._refresh(force=True)
        if display_mode() == "static" and _ipython_running():
            show_png(self.to_png())

    def __repr__(self) -> str:
        return f"<TrainingDashboard {self.state.step_text()} {self.state.status}>"
