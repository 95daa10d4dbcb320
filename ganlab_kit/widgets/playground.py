"""The GAN Playground as a Jupyter widget (ipywidgets 8 core widgets only).

::

    from ganlab_kit.widgets import Playground
    playground = Playground()      # the convolutional preset on the offline MNIST digits
    playground                     # G and D as editable layer lists, Train / Pause / Reset / Snapshot

Two model columns (G and D) list their layers; each row has the layer's kind, its
settings, its output shape and buttons to move it up or down, insert a layer below it or
remove it. An impossible model is flagged at the layer that breaks it and Train stays
disabled until it is fixed. Training runs in a background thread (the notebook stays
free) with the kit's :class:`~ganlab_kit.torch_gan.Trainer`; the view shows real and
generated images labelled with D's P(real) (green where D is right, red where it is
wrong), the cost curves, D's accuracy and examples per second. Snapshot (and the
automatic snapshots at 10,000 and 25,000 examples) saves a PNG of the view and a line of
the experiment log next to the notebook; :class:`ExperimentLog` shows the log as a table
and the snapshots as a gallery.

All logic lives in :class:`~ganlab_kit.widgets.playground_state.PlaygroundSession`;
this module only maps it to widgets. Drive it in tests by setting ``.value`` and
calling ``.click()``. Headless executions (nbgrader, nbconvert) show a static PNG.
"""
from __future__ import annotations

import html
import json
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..torch_gan.layer_spec import LAYER_KINDS, PRESETS, Layer, ModelSpec, format_shape, infer_shapes
from . import drawing
from .environment import display_mode, show_png
from .playground_state import (AUTO_SNAPSHOTS, DATASET_CHOICES, LOG_NAME, OPTIMIZERS,
                               PlaygroundSession, TrainingSettings, draw_playground,
                               gallery_html, log_table_html, read_log, record_problem)
from .state import RedrawThrottle

__all__ = ["Playground", "ModelColumn", "LayerRow", "ExperimentLog"]

_OK, _BAD = "#1a7f37", "#c62828"
_LOG = logging.getLogger(__name__)


def _parse_shape(text: str) -> List[int]:
    """``"28, 28, 1"`` or ``"[28, 28, 1]"`` -> ``[28, 28, 1]``; ``[]`` if unreadable."""
    try:
        return [int(part) for part in text.strip().strip("[]()").replace(" ", "").split(",") if part]
    except ValueError:
        return []


class LayerRow:
    """The widgets of one layer: kind, settings, output shape, up / down / insert / remove."""

    def __init__(self, column: "ModelColumn", index: int) -> None:
        import ipywidgets as widgets

        self.column, self.index = column, index
        layer = column.spec.layers[index]
        options = [(kind.label, name) for name, kind in LAYER_KINDS.items()
                   if column.spec.role in kind.roles]
        self.kind = widgets.Dropdown(options=options, value=layer.kind,
                                     layout=widgets.Layout(width="140px"))
        self.settings: Dict[str, Any] = {}
        for name, value in layer.params.items():
            if name == "shape":
                box = widgets.Text(value=", ".join(str(v) for v in value), description="shape",
                                   layout=widgets.Layout(width="140px"),
                                   style={"description_width": "initial"})
            elif isinstance(LAYER_KINDS[layer.kind].defaults[name], float):
                box = widgets.BoundedFloatText(value=value, min=0.0, max=1.0, step=0.05,
                                               description=name, layout=widgets.Layout(width="120px"),
                                               style={"description_width": "36px"})
            else:
                box = widgets.IntText(value=value, description=name,
                                      layout=widgets.Layout(width="100px"),
                                      style={"description_width": "initial"})
            box.observe(column.guard("changing a layer setting", partial(self._on_setting, name)),
                        names="value")
            self.settings[name] = box
        self.shape = widgets.HTML()
        small = widgets.Layout(width="28px", padding="0")
        self.up = widgets.Button(icon="arrow-up", tooltip="move up", layout=small)
        self.down = widgets.Button(icon="arrow-down", tooltip="move down", layout=small)
        self.insert = widgets.Button(icon="plus", tooltip="insert a layer below", layout=small)
        self.remove = widgets.Button(icon="times", tooltip="remove this layer", layout=small,
                                     button_style="danger")
        self.kind.observe(column.guard("changing a layer's kind", self._on_kind), names="value")
        self.up.on_click(column.guard("moving a layer up", lambda _: column.move(self.index, -1)))
        self.down.on_click(column.guard("moving a layer down", lambda _: column.move(self.index, +1)))
        self.insert.on_click(column.guard("inserting a layer", lambda _: column.insert(self.index + 1)))
        self.remove.on_click(column.guard("removing a layer", lambda _: column.remove(self.index)))
        self.box = widgets.HBox([widgets.Label(f"{index + 1}.", layout=widgets.Layout(width="22px")),
                                 self.kind, *self.settings.values(), self.up, self.down,
                                 self.insert, self.remove, self.shape],
                                layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        self.box.add_class("ganlab-layer-row")

    @property
    def layer(self) -> Layer:
        return self.column.spec.layers[self.index]

    def _on_kind(self, change) -> None:
        if change["new"] != self.layer.kind:
            self.column.replace(self.index, Layer(change["new"]))

    def _on_setting(self, name: str, change) -> None:
        value = change["new"]
        self.layer.params[name] = _parse_shape(value) if name == "shape" else value
        self.column.changed(structure=False)

    def show(self, shape, error: Optional[str], editable: bool) -> None:
        if error is not None:
            self.shape.value = f"<span style='color:{_BAD}'>&#9888; {html.escape(error)}</span>"
        else:
            self.shape.value = (f"<span style='color:{_OK if shape is not None else '#777'}'>"
                                f"&rarr; {format_shape(shape)}</span>")
        for widget in (self.kind, *self.settings.values(), self.up, self.down, self.insert, self.remove):
            widget.disabled = not editable
        self.up.disabled = self.up.disabled or self.index == 0
        self.down.disabled = self.down.disabled or self.index == len(self.column.spec.layers) - 1


class ModelColumn:
    """One network's column: its input, its layer rows, an Add button and its verdict."""

    def __init__(self, playground: "Playground", role: str) -> None:
        import ipywidgets as widgets

        self.playground, self.role = playground, role
        self.title = widgets.HTML()
        self.rows: List[LayerRow] = []
        self.rows_box = widgets.VBox()
        self.add = widgets.Button(description="Add layer", icon="plus",
                                  layout=widgets.Layout(width="120px"))
        self.add.on_click(self.guard("adding a layer", lambda _: self.insert(len(self.spec.layers))))
        self.message = widgets.HTML()
        self.box = widgets.VBox([self.title, self.rows_box, self.add, self.message],
                                layout=widgets.Layout(border="1px solid #ddd", padding="4px",
                                                      margin="0 4px 4px 0"))
        self.box.add_class(f"ganlab-{role}-column")
        self._rows_for: Optional[ModelSpec] = None   # the spec the rows were built for
        self.rebuild()

    def guard(self, action: str, callback):
        """``callback`` for a widget event, its errors shown in the Playground (see Playground.guard)."""
        return self.playground.guard(action, callback)

    @property
    def spec(self) -> ModelSpec:
        session = self.playground.session
        return session.generator if self.role == "generator" else session.discriminator

    # editing: every change goes through here, then the session hears of it
    def insert(self, index: int, layer: Optional[Layer] = None) -> None:
        self.spec.layers.insert(index, layer or Layer("fc"))
        self.changed()

    def remove(self, index: int) -> None:
        del self.spec.layers[index]
        self.changed()

    def move(self, index: int, offset: int) -> None:
        target = index + offset
        layers = self.spec.layers
        if 0 <= target < len(layers):
            layers[index], layers[target] = layers[target], layers[index]
            self.changed()

    def replace(self, index: int, layer: Layer) -> None:
        self.spec.layers[index] = layer
        self.changed()

    def changed(self, structure: bool = True) -> None:
        self.playground._model_changed()
        if structure:
            self.rebuild()
        else:
            self.show()

    def rebuild(self) -> None:
        spec = self.spec
        self.rows = [LayerRow(self, index) for index in range(len(spec.layers))]
        self._rows_for = spec
        self.rows_box.children = [row.box for row in self.rows]
        self.show()

    @property
    def stale(self) -> bool:
        """The rows were built for other layers (a preset or a data set replaced the model)."""
        spec = self.spec
        return (self._rows_for is not spec or len(self.rows) != len(spec.layers)
                or any(row.kind.value != layer.kind for row, layer in zip(self.rows, spec.layers)))

    def show(self) -> None:
        if self.stale:  # never show one model's shapes in another model's rows
            self.rebuild()
            return
        spec = self.spec
        report = infer_shapes(spec)
        editable = self.playground.session.can_edit
        name = "Generator G" if self.role == "generator" else "Discriminator D"
        source = (f"noise {format_shape(spec.input_shape)} ({spec.noise})" if self.role == "generator"
                  else f"image {format_shape(spec.input_shape)}")
        self.title.value = f"<b>{name}</b> &middot; input: {source}"
        for index, row in enumerate(self.rows):
            row.show(report.shapes[index], report.error if report.error_at == index else None, editable)
        self.add.disabled = not editable
        if report.error is None:
            self.message.value = (f"<span style='color:{_OK}'>output {format_shape(report.output_shape)}"
                                  "</span>")
        elif report.error_at == len(spec.layers):
            self.message.value = f"<span style='color:{_BAD}'>&#9888; {html.escape(report.error)}</span>"
        else:
            self.message.value = (f"<span style='color:{_BAD}'>layer {report.error_at + 1} breaks the "
                                  "model (see above)</span>")


class Playground:
    """The GAN Playground widget (see the module docstring).

    Args:
        directory: where the experiment log and the snapshots are written (default: the
            notebook's folder, the working directory).
        model: the preset both networks start from, "Convolutional" or "Fully connected".
        settings: a :class:`TrainingSettings` (optimizers, learning rates, data, batch size).
        auto_snapshots: examples trained at which a snapshot is taken by itself.
        dataset: an :class:`~ganlab_kit.data.ImageDataset` to train on instead of loading
            ``settings.data``.
        refresh_seconds: at most one redraw of the live view per this many seconds.
        max_overhead: and at most this share of the time spent redrawing.
    """

    def __init__(self, directory: Union[str, os.PathLike] = ".", model: str = "Convolutional",
                 settings: Optional[TrainingSettings] = None,
                 auto_snapshots: Sequence[int] = AUTO_SNAPSHOTS, dataset: Any = None,
                 refresh_seconds: float = 1.0, max_overhead: float = 0.015,
                 log_name: str = LOG_NAME) -> None:
        self.session = PlaygroundSession(directory, model, settings, auto_snapshots, dataset, log_name)
        self.throttle = RedrawThrottle(refresh_seconds, max_overhead)
        self._widgets: Optional[Dict[str, Any]] = None
        self.session.listeners.append(self._on_session_event)
        self.message = ""
        self.error = ""   # the last error a widget event raised, shown in the view's error line

    # ------------------------------------------------------------------ widgets
    def _build(self) -> Dict[str, Any]:
        if self._widgets is not None:
            return self._widgets
        import ipywidgets as widgets

        s = self.session.settings
        w: Dict[str, Any] = {}
        w["preset"] = widgets.Dropdown(options=list(PRESETS), value=PRESETS[0], description="Model",
                                       layout=widgets.Layout(width="240px"))
        w["data"] = widgets.Dropdown(options=list(DATASET_CHOICES), value=s.data, description="Data",
                                     layout=widgets.Layout(width="320px"))
        w["batch_size"] = widgets.BoundedIntText(value=s.batch_size, min=1, max=1024,
                                                 description="Batch", layout=widgets.Layout(width="150px"))
        w["g_optimizer"] = widgets.Dropdown(options=list(OPTIMIZERS), value=s.g_optimizer,
                                            description="G optimizer", layout=widgets.Layout(width="210px"))
        w["g_lr"] = widgets.BoundedFloatText(value=s.g_lr, min=1e-7, max=10.0, step=1e-4,
                                             description="G lr", layout=widgets.Layout(width="170px"))
        w["d_optimizer"] = widgets.Dropdown(options=list(OPTIMIZERS), value=s.d_optimizer,
                                            description="D optimizer", layout=widgets.Layout(width="210px"))
        w["d_lr"] = widgets.BoundedFloatText(value=s.d_lr, min=1e-7, max=10.0, step=1e-4,
                                             description="D lr", layout=widgets.Layout(width="170px"))
        w["train"] = widgets.Button(description="Train", icon="play", button_style="success")
        w["pause"] = widgets.Button(description="Pause", icon="pause", button_style="warning")
        w["reset"] = widgets.Button(description="Reset", icon="refresh")
        w["snapshot"] = widgets.Button(description="Snapshot", icon="camera", button_style="info")
        w["status"] = widgets.HTML()
        w["stats"] = widgets.HTML()
        w["error"] = widgets.HTML()
        w["samples"] = widgets.Image(format="png", layout=widgets.Layout(width="auto", max_width="480px"))
        w["curves"] = widgets.Image(format="png", layout=widgets.Layout(width="auto", max_width="380px"))
        for name, widget in w.items():
            widget.add_class(f"ganlab-playground-{name.replace('_', '-')}")
        self._widgets = w
        self.generator = ModelColumn(self, "generator")
        self.discriminator = ModelColumn(self, "discriminator")
        w["preset"].observe(self.guard("choosing a model", self._on_preset), names="value")
        w["data"].observe(self.guard("choosing the data", self._on_data), names="value")
        for name in ("batch_size", "g_optimizer", "g_lr", "d_optimizer", "d_lr"):
            w[name].observe(self.guard(f"changing {name}", partial(self._on_setting, name)), names="value")
        w["train"].on_click(self.guard("Train", lambda _: self.start()))
        w["pause"].on_click(self.guard("Pause", lambda _: self.pause()))
        w["reset"].on_click(self.guard("Reset", lambda _: self.reset()))
        w["snapshot"].on_click(self.guard("Snapshot", lambda _: self.snapshot()))
        w["box"] = widgets.VBox([
            widgets.HBox([w["preset"], w["data"], w["batch_size"]], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([w["g_optimizer"], w["g_lr"], w["d_optimizer"], w["d_lr"]],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([w["train"], w["pause"], w["reset"], w["snapshot"], w["status"]],
                         layout=widgets.Layout(align_items="center", flex_flow="row wrap")),
            w["error"],
            widgets.HBox([widgets.VBox([self.generator.box, self.discriminator.box],
                                       layout=widgets.Layout(width="52%")),
                          widgets.VBox([w["stats"], w["samples"], w["curves"]],
                                       layout=widgets.Layout(width="48%"))],
                         layout=widgets.Layout(align_items="flex-start")),
        ])
        w["box"].add_class("ganlab-playground")
        self._redraw(force=True)
        return w

    def __getattr__(self, name: str) -> Any:
        # pg.train_button, pg.g_lr, ...: the widgets by name (built on first use)
        if name.startswith("_") or name in ("generator", "discriminator"):
            if name in ("generator", "discriminator"):
                self._build()
                return self.__dict__[name]
            raise AttributeError(name)
        key = name[:-len("_button")] if name.endswith("_button") else name
        widgets = self._build()
        if key in widgets:
            return widgets[key]
        raise AttributeError(f"Playground has no attribute or widget {name!r}")

    @property
    def widget(self):
        """The top-level ipywidgets ``VBox``."""
        return self._build()["box"]

    def display(self) -> None:
        """Show the live widget, or, headless, a PNG of the view."""
        if display_mode() == "live":
            from IPython.display import display

            display(self.widget)
        else:
            show_png(self.to_png())

    def _ipython_display_(self) -> None:
        self.display()

    def to_png(self, live: bool = False) -> bytes:
        """The whole view as PNG bytes (``live=False``: without wall-clock numbers)."""
        return drawing.png_bytes(draw_playground(self.session, live=live))

    # ------------------------------------------------------------------ actions
    def start(self, examples: Optional[int] = None) -> None:
        """What Train does: train in the background (resume if paused)."""
        try:
            self.session.start(examples)
            self.message = ""
        except Exception as error:  # a missing data set, an invalid model: say so in the view
            self.message = str(error)
        self._redraw(force=True)

    def pause(self) -> None:
        self.session.pause()
        self._redraw(force=True)

    def reset(self) -> None:
        self.session.reset()
        self.message = ""
        self._redraw(force=True)

    def snapshot(self) -> Optional[dict]:
        """What Snapshot does: a PNG of the view plus a log record (after the current step
        when training runs)."""
        record = self.session.request_snapshot("button")
        self._redraw(force=True)
        return record

    def train(self, examples: int) -> None:
        """Train until ``examples`` in all, in this cell (scripts and tests; the button
        trains in the background instead)."""
        self.session.train(examples)  # its end redraws the view (the session's "final" event)

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait for background training to end (after Reset or ``start(examples)``)."""
        self.session.wait(timeout)
        self._redraw(force=True)

    # ------------------------------------------------------------------ events
    def guard(self, action: str, callback):
        """``callback`` wrapped for a widget event: an error it raises is shown in the view's
        error line (ipywidgets would send it only to JupyterLab's log console) and the view is
        redrawn from the session, so the widget stays usable."""
        def guarded(*args, **kwargs):
            try:
                result = callback(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - shown to the student, logged with its traceback
                self._show_error(action, error)
                return None
            if self.error and action != "training":
                self.error = ""
                self._show_error_line()
            return result
        return guarded

    def _show_error(self, action: str, error: BaseException) -> None:
        _LOG.error("GAN Playground: %s failed", action, exc_info=error)
        self.error = (f"{action} failed: {type(error).__name__}: {error}. The view was redrawn from "
                      "the current models; Reset starts the run over.")
        if self._widgets is not None:
            try:
                self.generator.rebuild()
                self.discriminator.rebuild()
                self._redraw(force=True, columns=False)
            except Exception as again:  # noqa: BLE001 - keep the first error on screen
                _LOG.error("GAN Playground: redrawing after the error failed", exc_info=again)
        self._show_error_line()

    def error_widget_text(self) -> str:
        """The text of the view's error line ("" when no error is shown)."""
        if self._widgets is None:
            return ""
        return html.unescape(self._widgets["error"].value.replace("<span style='color:" + _BAD + "'>", "")
                             .replace("</span>", "").replace("&#9888; ", ""))

    def _show_error_line(self) -> None:
        if self._widgets is not None:
            self._widgets["error"].value = ("" if not self.error else
                                            f"<span style='color:{_BAD}'>&#9888; {html.escape(self.error)}</span>")

    def _model_changed(self) -> None:
        try:
            self.session.model_changed()
        except RuntimeError as error:
            self.message = str(error)
        self._redraw(force=True, columns=False)

    def _on_preset(self, change) -> None:
        self._apply_change(lambda: self.session.load_preset(change["new"]))

    def _on_data(self, change) -> None:
        self._apply_change(lambda: self.session.set_data(change["new"]))

    def _on_setting(self, name: str, change) -> None:
        def apply() -> None:
            setattr(self.session.settings, name, change["new"])
            self.session.settings.check()
            self.session.model_changed()
        self._apply_change(apply)

    def _apply_change(self, apply) -> None:
        try:
            apply()
            self.message = ""
        except (RuntimeError, ValueError) as error:
            self.message = str(error)
        self._redraw(force=True)  # the columns rebuild their rows only where the model was replaced

    def _on_session_event(self, event: str) -> None:
        self.guard("training", self._session_event)(event)  # on the training thread: never kill the run

    def _session_event(self, event: str) -> None:
        if event == "snapshot" and self.session.last_snapshot is not None:
            self.message = f"saved {self.session.last_snapshot['snapshot']} and a line in {self.session.log_path.name}"
        self._redraw(force=event in ("final", "paused", "snapshot", "run"), verdicts=True)

    def _redraw(self, force: bool = False, columns: bool = True, verdicts: bool = False) -> None:
        if self._widgets is None or not (force or self.throttle.due()):
            return
        started = self.throttle.clock()
        w, session = self._widgets, self.session
        if verdicts and session.trainer is not None:
            session.refresh_verdicts()  # on the training thread (the event came from it)
        editable = session.can_edit
        for name in ("preset", "data", "batch_size", "g_optimizer", "g_lr", "d_optimizer", "d_lr"):
            w[name].disabled = not editable
        w["train"].disabled = session.is_running or not session.can_train
        w["train"].description = "Resume" if session.is_training and not session.is_running else "Train"
        w["pause"].disabled = not session.is_running
        w["reset"].disabled = session.trainer is None
        if columns:
            self.generator.show()
            self.discriminator.show()
        problems = session.problems
        status = session.status
        color = {"running": _OK, "paused": "#b26b00", "failed": _BAD, "model invalid": _BAD}.get(status, "#555")
        note = ("Train is disabled: " + "; ".join(problems)) if problems else self.message
        w["status"].value = (f"<b>run {session.run}</b> &middot; <span style='color:{color}'>{status}</span>"
                             + (f" &middot; <i>{html.escape(note)}</i>" if note else ""))
        state = session.state
        speed = state.examples_per_second
        w["stats"].value = (f"examples trained: <b>{session.examples:,}</b> &middot; "
                            f"{'--' if speed != speed else f'{speed:,.0f}'} examples/s &middot; "
                            f"D accuracy {_percent(session.d_accuracy)} &middot; "
                            f"D loss {_number(state.latest('d_loss'))} &middot; "
                            f"G loss {_number(state.latest('g_loss'))}")
        verdict_grid = session.verdicts
        if verdict_grid is None:
            w["samples"].value = drawing.png_bytes(drawing._placeholder(
                440, 120, "press Train: real and generated images appear here"), fast=True)
        else:
            w["samples"].value = drawing.png_bytes(drawing.draw_labelled_grid(
                *verdict_grid, columns=3, scale=2), fast=True)
        w["curves"].value = drawing.png_bytes(drawing.draw_curves(state, width=380, height=360), fast=True)
        self.throttle.done(started)

    def __repr__(self) -> str:
        return f"<Playground run {self.session.run} {self.session.status}, {self.session.examples} examples>"


def _percent(value: float) -> str:
    return "--" if value != value else f"{value:.0%}"


def _number(value: float) -> str:
    return "--" if value != value else f"{value:.3f}"


class ExperimentLog:
    """The experiment log next to the notebook: a table (displayed) and a gallery.

    ``ExperimentLog()`` reads ``playground_log.jsonl``; ``.records`` is the list of
    records, ``.gallery()`` shows the snapshots.
    """

    def __init__(self, path: Union[str, os.PathLike] = LOG_NAME) -> None:
        self.path = Path(path)
        self.records = read_log(self.path)

    def __len__(self) -> int:
        return len(self.records)

    def problems(self, rescore: bool = False) -> List[str]:
        """What keeps records from counting, one sentence each with what to do: a snapshot
        missing or changed, a line edited after its snapshot (``rescore``: also score the
        samples drawn in each snapshot again and compare them with the line's scores)."""
        found = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8", errors="replace").splitlines()
                                      if self.path.is_file() else [], 1):
            try:
                ok = isinstance(json.loads(line), dict) if line.strip() else True
            except ValueError:
                ok = False
            if not ok:
                found.append(f"line {number} of {self.path.name} is not a Playground record: remove it "
                             "(write notes in the notebook, not in the log)")
        for record in self.records:
            problem = record_problem(record, self.path.parent, rescore=rescore)
            if problem:
                found.append(problem)
        return found

    def _repr_html_(self) -> str:
        return log_table_html(self.records)

    def __repr__(self) -> str:
        return f"ExperimentLog({self.path.name!r}: {len(self.records)} snapshots)"

    def gallery(self, width: int = 420):
        from IPython.display import HTML

        return HTML(gallery_html(self.records, self.path.parent, width))
