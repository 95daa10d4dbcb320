"""A GAN Lab-style view of a GAN on 2-D data, as a Jupyter widget (ipywidgets 8 core widgets).

::

    from ganlab_kit.widgets.gan2d import GAN2DLab
    lab = GAN2DLab("ring")   # real points, fakes, D's heat map, G's manifold, gradient arrows
    lab                      # Play / Pause / Step D / Step G / Step both / Reset, settings, curves

One picture holds the four views of GAN Lab (Kahng et al., IEEE VIS 2018): D's probability
that a point is real as a heat map over the plane (green: D says real, purple: fake), the
real points (green dots), the fakes (purple dots), G's manifold (where the grid of G's 2-D
noise plane lands, grey lines) and, on every fake, an arrow along minus the gradient of G's
loss with respect to that point: where G's next update pushes it. Next to it, the kit's
loss / accuracy / D-output curves. The numbers come from
:class:`~ganlab_kit.widgets.gan2d_state.GAN2DSession`; this module only draws them (Pillow,
as the training dashboard, because matplotlib cannot redraw ten times a second on a
laptop CPU) and maps them to widgets. Headless executions show one static PNG.
"""
from __future__ import annotations

import html
import math
from functools import lru_cache
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..config import LOSSES
from ..data import TOY_DISTRIBUTIONS
from . import drawing
from .environment import display_mode, show_png
from .gan2d_state import EXTENT, LOSS_LABELS, GAN2DSession, GAN2DSettings, GAN2DView
from .state import RedrawThrottle

__all__ = ["GAN2DLab", "draw_plane", "draw_gan2d", "probability_colors", "live_bytes"]

REAL_COLOR = (20, 140, 60)
FAKE_COLOR = (125, 60, 170)
ARROW_COLOR = (235, 110, 20)
MANIFOLD_COLOR = (110, 110, 110)
#: Arrow length in plane units per unit of a point's own gradient (N x the batch-mean one).
ARROW_SCALE = 0.25
#: Longest arrow, in plane units.
ARROW_MAX = 0.5


@lru_cache(maxsize=1)
def probability_colors() -> np.ndarray:
    """256 RGB colours, uint8 ``(256, 3)``: purple (P(real) = 0, D says fake) through white
    (0.5) to green (1, D says real), light enough for the points to show on top."""
    t = np.linspace(0.0, 1.0, 256)[:, None]
    purple, white, green = np.array([196, 170, 222.0]), np.array([250, 250, 250.0]), np.array([160, 214, 170.0])
    low = white + (purple - white) * np.clip(1 - 2 * t, 0, 1)
    high = white + (green - white) * np.clip(2 * t - 1, 0, 1)
    return np.where(t < 0.5, low, high).round().astype(np.uint8)


def _to_pixels(points: np.ndarray, size: int, extent: Tuple[float, float]) -> np.ndarray:
    """Plane coordinates ``(..., 2)`` -> pixel coordinates (y grows downwards)."""
    low, high = extent
    scale = (size - 1) / (high - low)
    pixels = np.empty_like(points, dtype=np.float64)
    pixels[..., 0] = (points[..., 0] - low) * scale
    pixels[..., 1] = (high - points[..., 1]) * scale
    return pixels


@lru_cache(maxsize=8)
def _disc(radius: float) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel offsets ``(dy, dx)`` of a filled disc of ``radius``."""
    reach = int(math.ceil(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    keep = dx ** 2 + dy ** 2 <= radius ** 2 + 0.5
    return dy[keep], dx[keep]


def _stamp(canvas: np.ndarray, pixels: np.ndarray, color, radius: float = 0.0) -> None:
    """Paint a disc of ``radius`` at each pixel position ``(..., 2)`` (x, y) of ``canvas``, in place.

    Vectorised: a few hundred points cost one numpy assignment instead of hundreds of
    Pillow calls (what keeps a redraw at a few milliseconds)."""
    dy, dx = _disc(radius)
    centres = np.rint(pixels.reshape(-1, 2)).astype(np.int64)
    xs = (centres[:, 0:1] + dx[None, :]).ravel()
    ys = (centres[:, 1:2] + dy[None, :]).ravel()
    inside = (xs >= 0) & (xs < canvas.shape[1]) & (ys >= 0) & (ys < canvas.shape[0])
    canvas[ys[inside], xs[inside]] = color


def _segments(starts: np.ndarray, ends: np.ndarray, samples: int) -> np.ndarray:
    """``samples`` evenly spaced pixel positions along each segment: ``(N, samples, 2)``."""
    t = np.linspace(0.0, 1.0, samples)[None, :, None]
    return starts[:, None, :] + t * (ends - starts)[:, None, :]


def draw_plane(view: GAN2DView, size: int = 420, extent: Tuple[float, float] = EXTENT,
               manifold: bool = True, arrows: bool = True):
    """The plane: heat map, manifold, real and fake points, gradient arrows (a PIL image)."""
    from PIL import Image, ImageDraw

    if view.heatmap is not None:
        cells = (np.clip(np.nan_to_num(view.heatmap, nan=0.5), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        rgb = probability_colors()[cells[::-1]]  # row 0 is the lowest y: the bottom of the picture
        image = Image.fromarray(rgb).resize((size, size), Image.BILINEAR)
    else:
        image = Image.new("RGB", (size, size), (238, 238, 238))
    draw = ImageDraw.Draw(image)
    # the axes through the origin, faintly
    origin = _to_pixels(np.zeros(2), size, extent)
    draw.line((0, origin[1], size, origin[1]), fill=(205, 205, 205))
    draw.line((origin[0], 0, origin[0], size), fill=(205, 205, 205))
    if manifold:
        grid = _to_pixels(view.manifold, size, extent)
        for line in (*grid, *grid.transpose(1, 0, 2)):
            draw.line([tuple(p) for p in line], fill=MANIFOLD_COLOR, width=1)
    canvas = np.array(image)
    _stamp(canvas, _to_pixels(view.real, size, extent), REAL_COLOR, 2.2)
    _stamp(canvas, _to_pixels(view.fake, size, extent), FAKE_COLOR, 2.2)
    if arrows and view.gradients is not None:
        # each point's own gradient (the batch mean's times N), reversed: where G pushes it
        step = -view.gradients.astype(np.float64) * len(view.gradients) * ARROW_SCALE
        length = np.linalg.norm(step, axis=1, keepdims=True)
        step = np.where(length > ARROW_MAX, step * (ARROW_MAX / np.maximum(length, 1e-12)), step)
        starts = _to_pixels(view.fake, size, extent)
        ends = _to_pixels(view.fake + step, size, extent)
        delta = ends - starts
        norm = np.linalg.norm(delta, axis=1, keepdims=True)
        visible = norm[:, 0] >= 1.5
        starts, ends, delta, norm = starts[visible], ends[visible], delta[visible], norm[visible]
        if len(starts):
            unit = delta / norm
            head = np.minimum(4.5, norm / 2)
            left = ends - head * (unit + 0.6 * unit[:, ::-1] * np.array([-1.0, 1.0]))
            right = ends - head * (unit - 0.6 * unit[:, ::-1] * np.array([-1.0, 1.0]))
            samples = int(math.ceil(ARROW_MAX * size / (extent[1] - extent[0]))) + 2
            for a, b, count in ((starts, ends, samples), (ends, left, 6), (ends, right, 6)):
                _stamp(canvas, _segments(a, b, count), ARROW_COLOR)
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).rectangle((0, 0, size - 1, size - 1), outline=drawing.COLORS["frame"])
    return image


def draw_gan2d(view: GAN2DView, curves=None, size: int = 420, title: str = ""):
    """The whole view as one image: a header (``title`` first, if any), the plane with a legend,
    the curves (optional)."""
    from PIL import Image, ImageDraw

    plane = draw_plane(view, size)
    font, small = drawing._font(14), drawing._font(12)
    legend_height = 22 + 16 * max(1, len(view.errors))
    width = size + 20 + (curves.width + 10 if curves is not None else 0)
    height = 30 + max(size + legend_height, curves.height if curves is not None else 0) + 6
    image = Image.new("RGB", (width, height), drawing.COLORS["background"])
    draw = ImageDraw.Draw(image)
    header = (f"{view.dataset} · {LOSS_LABELS.get(view.loss, view.loss)} loss · "
              f"D steps {view.d_updates} · G steps {view.g_updates}")
    draw.text((10, 7), f"{title} · {header}" if title else header, fill=drawing.COLORS["text"], font=font)
    image.paste(plane, (10, 30))
    y = 30 + size + 4
    x = 10
    for label, color, kind in (("real", REAL_COLOR, "dot"), ("fake", FAKE_COLOR, "dot"),
                               ("G's manifold", MANIFOLD_COLOR, "line"),
                               ("-grad of G's loss", ARROW_COLOR, "line"),
                               ("D: real", probability_colors()[255], "box"),
                               ("D: fake", probability_colors()[0], "box")):
        color = tuple(int(c) for c in color)
        if kind == "dot":
            draw.ellipse((x, y + 5, x + 7, y + 12), fill=color)
        elif kind == "line":
            draw.line((x, y + 9, x + 12, y + 9), fill=color, width=2)
        else:
            draw.rectangle((x, y + 3, x + 11, y + 14), fill=color, outline=drawing.COLORS["frame"])
        x += 16
        draw.text((x, y + 2), label, fill=drawing.COLORS["text"], font=small)
        x += int(draw.textlength(label, font=small)) + 12
    y += 20
    for name, message in sorted(view.errors.items()):
        what = "heat map" if name == "heatmap" else "arrows"
        draw.text((10, y), f"no {what}: {message}", fill=drawing.COLORS["alarm"], font=small)
        y += 16
    if curves is not None:
        image.paste(curves, (size + 30, 30))
    return image


def live_bytes(image) -> bytes:
    """A live frame of the plane as JPEG: encoding takes a sixth of the CPU time of even the
    fastest PNG for this picture (measured 1.5 vs 10 ms), which is what buys ten and more
    redraws a second on a loaded laptop; the static picture stays PNG."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class GAN2DLab:
    """The 2-D GAN widget (see the module docstring).

    Args:
        dataset: one of ``ring``, ``grid``, ``line``, ``moons``.
        settings: a :class:`~ganlab_kit.widgets.gan2d_state.GAN2DSettings` (overrides ``dataset``
            when given).
        heatmap_fn, gradient_fn: your own heat-map and arrow computations (a lab's answers);
            the kit's by default.
        resolution: heat-map cells per side.
        refresh_seconds: at most one redraw of the plane per this many seconds while playing.
        max_overhead: and at most this share of the time spent redrawing.
        size: side of the plane in pixels.
    """

    def __init__(self, dataset: str = "ring", *, settings: Optional[GAN2DSettings] = None,
                 heatmap_fn=None, gradient_fn=None, resolution: int = 64,
                 refresh_seconds: float = 0.05, max_overhead: float = 0.5, size: int = 420) -> None:
        settings = settings or GAN2DSettings(dataset=dataset)
        self.session = GAN2DSession(settings, heatmap_fn=heatmap_fn, gradient_fn=gradient_fn,
                                    resolution=resolution)
        self.size = size
        self.throttle = RedrawThrottle(refresh_seconds, max_overhead)
        self.curve_throttle = RedrawThrottle(0.5, 0.1)
        self._widgets: Optional[Dict[str, Any]] = None
        self.message = ""
        self.session.listeners.append(self._on_session_event)

    # ------------------------------------------------------------------ widgets
    def _build(self) -> Dict[str, Any]:
        if self._widgets is not None:
            return self._widgets
        import ipywidgets as widgets

        s = self.session.settings
        w: Dict[str, Any] = {}
        w["dataset"] = widgets.Dropdown(options=list(TOY_DISTRIBUTIONS), value=s.dataset,
                                        description="Data", layout=widgets.Layout(width="180px"))
        w["loss"] = widgets.Dropdown(options=[(LOSS_LABELS[name], name) for name in LOSSES],
                                     value=s.loss, description="Loss", layout=widgets.Layout(width="220px"))
        w["d_steps"] = widgets.BoundedIntText(value=s.d_steps, min=1, max=20, description="k D steps",
                                              layout=widgets.Layout(width="150px"))
        w["g_lr"] = widgets.FloatLogSlider(value=s.g_lr, base=10, min=-5, max=-1, step=0.1,
                                           description="G lr", readout_format=".1e",
                                           layout=widgets.Layout(width="300px"))
        w["d_lr"] = widgets.FloatLogSlider(value=s.d_lr, base=10, min=-5, max=-1, step=0.1,
                                           description="D lr", readout_format=".1e",
                                           layout=widgets.Layout(width="300px"))
        w["play"] = widgets.Button(description="Play", icon="play", button_style="success",
                                   layout=widgets.Layout(width="90px"))
        w["pause"] = widgets.Button(description="Pause", icon="pause", button_style="warning",
                                    layout=widgets.Layout(width="90px"))
        w["step_d"] = widgets.Button(description="Step D", layout=widgets.Layout(width="90px"),
                                     tooltip="one update of the discriminator only")
        w["step_g"] = widgets.Button(description="Step G", layout=widgets.Layout(width="90px"),
                                     tooltip="one update of the generator only")
        w["step_both"] = widgets.Button(description="Step both", layout=widgets.Layout(width="100px"),
                                        tooltip="k discriminator updates, then one generator update")
        w["reset"] = widgets.Button(description="Reset", icon="refresh", layout=widgets.Layout(width="90px"))
        w["status"] = widgets.HTML()
        w["plane"] = widgets.Image(format="jpeg", layout=widgets.Layout(width="auto", max_width=f"{self.size + 20}px"))
        w["curves"] = widgets.Image(format="png", layout=widgets.Layout(width="auto", max_width="380px"))
        for name, widget in w.items():
            widget.add_class(f"ganlab-gan2d-{name.replace('_', '-')}")
        w["dataset"].observe(lambda change: self._act(lambda: self.session.set_dataset(change["new"])),
                             names="value")
        w["loss"].observe(lambda change: self._act(lambda: self.session.set_loss(change["new"])),
                          names="value")
        w["d_steps"].observe(lambda change: self._act(lambda: self.session.set_d_steps(change["new"])),
                             names="value")
        w["g_lr"].observe(lambda change: self._act(
            lambda: self.session.set_learning_rates(g_lr=change["new"])), names="value")
        w["d_lr"].observe(lambda change: self._act(
            lambda: self.session.set_learning_rates(d_lr=change["new"])), names="value")
        w["play"].on_click(lambda _: self.play())
        w["pause"].on_click(lambda _: self.pause())
        w["step_d"].on_click(lambda _: self.step_discriminator())
        w["step_g"].on_click(lambda _: self.step_generator())
        w["step_both"].on_click(lambda _: self.step_both())
        w["reset"].on_click(lambda _: self.reset())
        w["box"] = widgets.VBox([
            widgets.HBox([w["dataset"], w["loss"], w["d_steps"]], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([w["g_lr"], w["d_lr"]], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([w["play"], w["pause"], w["step_d"], w["step_g"], w["step_both"], w["reset"],
                          w["status"]], layout=widgets.Layout(align_items="center", flex_flow="row wrap")),
            widgets.HBox([w["plane"], w["curves"]], layout=widgets.Layout(align_items="flex-start",
                                                                          flex_flow="row wrap")),
        ])
        w["box"].add_class("ganlab-gan2d")
        self._widgets = w
        self._redraw(force=True)
        return w

    def __getattr__(self, name: str) -> Any:
        # lab.play_button, lab.loss, lab.plane ...: the widgets by name (built on first use)
        if name.startswith("_"):
            raise AttributeError(name)
        key = name[:-len("_button")] if name.endswith("_button") else name
        built = self._build()
        if key in built:
            return built[key]
        raise AttributeError(f"GAN2DLab has no attribute or widget {name!r}")

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

    def view(self) -> GAN2DView:
        """The numbers on view now (see :meth:`GAN2DSession.view`)."""
        return self.session.view()

    def curves_image(self):
        return drawing.draw_curves(self.session.state, width=380, height=390)

    def picture(self, curves: bool = True):
        """The whole view as a PIL image (the plane, its legend and, with ``curves``, the curves)."""
        return draw_gan2d(self.view(), self.curves_image() if curves else None, self.size,
                          title="GAN on 2-D data" if curves else "")

    def to_png(self, live: bool = False) -> bytes:
        """The whole view as PNG bytes (nothing depends on the clock: a seeded run repeats)."""
        return drawing.png_bytes(self.picture(), fast=live)

    def save_png(self, path) -> None:
        with open(path, "wb") as file:
            file.write(self.to_png())

    # ------------------------------------------------------------------ actions
    def _act(self, action) -> None:
        """Run a click's or a setting's action; any error it raises is shown in the widget's status
        line (a click's callback has no cell output: an error raised there would reach only
        JupyterLab's log console)."""
        try:
            action()
            self.message = ""
        except (RuntimeError, ValueError) as error:
            self.message = str(error)
        except Exception as error:  # e.g. Pause's TimeoutError, a student's function failing in a step
            self.message = f"{type(error).__name__}: {error}"
        try:
            self._redraw(force=True)
        except Exception as error:  # drawing failed: say so where the student looks
            self.message = f"the picture could not be drawn ({type(error).__name__}: {error})"
            if self._widgets is not None:
                self._widgets["status"].value = f"<i style='color:#c62828'>{html.escape(self.message)}</i>"

    def play(self) -> None:
        """What Play does: train in the background until Pause (the notebook stays free)."""
        self._act(self.session.play)

    def pause(self) -> None:
        self._act(self.session.pause)

    def step_discriminator(self) -> None:
        """Step D: one update of D only."""
        self._act(self.session.step_discriminator)

    def step_generator(self) -> None:
        """Step G: one update of G only."""
        self._act(self.session.step_generator)

    def step_both(self) -> None:
        """Step both: k updates of D, then one of G."""
        self._act(self.session.step_both)

    def reset(self) -> None:
        """Fresh weights, empty curves."""
        self._act(self.session.reset)

    def train(self, steps: int) -> None:
        """Train ``steps`` steps in this cell (scripts, tests; Play trains in the background)."""
        self.session.train(steps)
        self._redraw(force=True)

    def wait(self, timeout: Optional[float] = None) -> None:
        self.session.wait(timeout)

    # ------------------------------------------------------------------ drawing
    def _on_session_event(self, event: str) -> None:
        if event == "step" and self.session.is_playing:
            self._redraw()  # on the training thread, throttled
        else:
            self._redraw(force=True)

    def _redraw(self, force: bool = False) -> None:
        """Redraw the plane if a redraw is due (always when ``force``); curves less often."""
        w = self._widgets
        if w is None or not (force or self.throttle.due()):
            return
        started = self.throttle.clock()
        session = self.session
        playing = session.is_playing
        view = session.view()
        w["plane"].value = live_bytes(draw_gan2d(view, None, self.size))
        if force or self.curve_throttle.due():
            curve_started = self.curve_throttle.clock()
            w["curves"].value = drawing.png_bytes(self.curves_image(), fast=True)
            self.curve_throttle.done(curve_started)
        w["play"].disabled = playing
        w["pause"].disabled = not playing
        status = "playing" if playing else ("ready" if session.iterations == 0 else "paused")
        color = {"playing": "#1a7f37", "paused": "#b26b00"}.get(status, "#555")
        note = self.message or "; ".join(f"{k}: {v}" for k, v in view.errors.items())
        w["status"].value = (f"<span style='color:{color}'><b>{status}</b></span> &middot; "
                             f"{LOSS_LABELS[view.loss]} &middot; "
                             f"D steps {view.d_updates} &middot; G steps {view.g_updates}"
                             + (f" &middot; <i style='color:#c62828'>{html.escape(note)}</i>" if note else ""))
        self.throttle.done(started)

    def __repr__(self) -> str:
        s = self.session
        return (f"<GAN2DLab {s.settings.dataset}, {LOSS_LABELS[s.settings.loss]}, "
                f"D steps {s.d_updates}, G steps {s.g_updates}>")
