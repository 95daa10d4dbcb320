"""The GAN Playground's logic, without widgets: models, settings, a run, the experiment log.

:class:`PlaygroundSession` is what the :class:`~ganlab_kit.widgets.Playground` widget
shows and edits: the generator and discriminator as layer lists
(:mod:`ganlab_kit.torch_gan.layer_spec`), the training settings, the run in progress
and the experiment log. Training is the kit's :class:`~ganlab_kit.torch_gan.Trainer`
driven by a :class:`~ganlab_kit.widgets.TrainingDashboard` (its background thread,
Pause / Resume / Stop and recorded curves); nothing here loops over batches itself.

The experiment log replaces screenshots: every snapshot writes a PNG of the whole view
and appends one JSON line to the log file next to the notebook (models, optimizers,
learning rates, data set, examples trained, metrics, sample scores, the PNG's name and
its SHA-256). Each PNG carries its record's run, index, examples and a fingerprint of its
configuration in a text chunk, so
a grader can tell that a log and its pictures belong together.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..torch_gan.layer_spec import (PRESETS, ModelSpec, build_module, format_shape, infer_shapes,
                                    preset)
from . import drawing
from .state import DashboardState

__all__ = [
    "OPTIMIZERS", "DATASET_CHOICES", "DIGIT_DATASETS", "AUTO_SNAPSHOTS", "LOG_NAME",
    "PNG_KEY", "TrainingSettings", "PlaygroundSession", "make_optimizer",
    "read_log", "read_png_record", "png_sha256", "configuration_fingerprint",
    "CONFIGURATION_FIELDS", "log_table_html", "gallery_html", "runs_of",
    "draw_playground", "record_digest", "score_pixels", "samples_from_png", "record_problem",
    "SAMPLES_COLUMNS",
]

#: Optimizers offered for each network.
OPTIMIZERS = ("adam", "sgd", "rmsprop")
#: (label, data set name) pairs of the data menu.
DATASET_CHOICES = (("MNIST (5,000 offline digits)", "mnist-offline"), ("MNIST (full)", "mnist"),
                   ("Fashion-MNIST", "fashion-mnist"), ("CIFAR-10", "cifar10"))
#: Data sets whose samples the kit's digit classifier can score.
DIGIT_DATASETS = ("mnist-offline", "mnist")
#: Examples trained at which a snapshot is taken automatically (the seed's 10,000 and 25,000).
AUTO_SNAPSHOTS = (10_000, 25_000)
#: The log's file name next to the notebook; snapshots are ``playground_<index>.png``.
LOG_NAME = "playground_log.jsonl"
#: The PNG text chunk that holds a snapshot's record summary.
PNG_KEY = "ganlab-playground"
#: Training "forever" (until Pause or Reset), as the Playground's Train button does.
FOREVER_STEPS = 10 ** 9
#: Shown in the view: real and generated images, each labelled with D's P(real).
VIEW_IMAGES = 9
#: Samples the classifier scores at each snapshot of a digit run; the snapshot draws them all
#: (as 8-bit pixels, the very values scored), so a grader can score the picture again.
SCORED_SAMPLES = 500
#: Columns of the scored samples' grid at the bottom of a snapshot (28 x 28 pixels each, no gaps).
SAMPLES_COLUMNS = 25
#: Grey levels of the scored samples (drawn and scored at these levels: a snapshot stays small).
SAMPLE_LEVELS = 16


@dataclass
class TrainingSettings:
    """The training controls of the Playground."""

    data: str = "mnist-offline"   # a name of DATASET_CHOICES
    g_optimizer: str = "adam"     # one of OPTIMIZERS
    g_lr: float = 1e-3            # generator learning rate
    d_optimizer: str = "adam"
    d_lr: float = 2e-4            # discriminator learning rate
    batch_size: int = 64          # real images per step (and as many fakes)
    seed: Optional[int] = None    # weights, noise and batch order of a fresh run (None: your own, see student_seed)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = student_seed()

    def check(self) -> None:
        for name in ("g_optimizer", "d_optimizer"):
            if getattr(self, name) not in OPTIMIZERS:
                raise ValueError(f"{name} must be one of {OPTIMIZERS}, got {getattr(self, name)!r}")
        for name in ("g_lr", "d_lr"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive learning rate, got {getattr(self, name)}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


def student_seed() -> int:
    """A seed of the student's own, from who runs the notebook (JupyterHub's user, nbgrader's
    student id, else the login name), so two students' runs (and logs) differ; the log records it."""
    import getpass

    identity = os.environ.get("JUPYTERHUB_USER") or os.environ.get("NBGRADER_STUDENT_ID")
    if not identity:
        try:
            identity = getpass.getuser()
        except (KeyError, OSError):  # no login name (a container without a passwd entry)
            identity = ""
    if not identity:
        return 0
    return int(hashlib.sha256(identity.encode("utf-8")).hexdigest()[:8], 16) % 1_000_000


def make_optimizer(name: str, parameters, lr: float):
    """Adam (betas 0.5, 0.999, the kit's fused kernel), plain SGD or RMSprop."""
    import torch

    from ..torch_gan.trainer import make_adam

    if name == "adam":
        return make_adam(parameters, lr)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")


def _playground_trainer_class():
    from ..torch_gan.trainer import Trainer

    class PlaygroundTrainer(Trainer):
        """The kit's trainer, drawing the generator's noise as its spec says (uniform in
        [-1, 1] as in the Playground, or standard normal)."""

        def __init__(self, *args, noise: str = "uniform", **kwargs) -> None:
            self.noise_distribution = noise
            super().__init__(*args, **kwargs)
            self.fixed_noise = self.noise(self.config.n_fixed)
            self.parked = threading.Event()  # set while the loop waits in a pause
            self.on_park: Optional[Callable[[], None]] = None  # called once the pause takes hold

        def wait_while_paused(self) -> None:
            if self.is_paused:
                if self.on_park is not None:
                    self.on_park()  # before parked is set: whoever waits for it sees the view updated
                self.parked.set()
            try:
                super().wait_while_paused()
            finally:
                self.parked.clear()

        def noise(self, batch_size: int):
            import torch

            if self.noise_distribution == "uniform":
                return torch.rand(batch_size, self.latent_dim, generator=self.rng) * 2 - 1
            return torch.randn(batch_size, self.latent_dim, generator=self.rng)

    return PlaygroundTrainer


# --------------------------------------------------------------------------- the log

#: The fields of a record that make up its configuration (what an experiment varies).
CONFIGURATION_FIELDS = ("data", "batch_size", "generator", "discriminator", "g_optimizer", "g_lr",
                        "d_optimizer", "d_lr")


def png_sha256(path: Union[str, os.PathLike]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def configuration_fingerprint(record: Dict[str, Any]) -> str:
    """A short hash of a record's configuration (the models, data and training settings)."""
    text = json.dumps({name: record.get(name) for name in CONFIGURATION_FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_digest(record: Dict[str, Any]) -> str:
    """A short hash of a whole log record (but its PNG's SHA-256): the snapshot PNG carries it,
    so a line edited after its snapshot no longer matches its picture."""
    text = json.dumps({key: value for key, value in record.items() if key != "png_sha256"}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def score_pixels(pixels: np.ndarray) -> Dict[str, Any]:
    """The digit classifier's scores of uint8 samples ``(N, 28, 28)`` (what a log record keeps)."""
    from ..scoring import score_images

    images = np.asarray(pixels, dtype=np.float32).reshape(len(pixels), 1, 28, 28) / 127.5 - 1.0
    result = score_images(images, reference=None)
    return {"n": int(len(pixels)), "confident_rate": round(result.confident_rate, 4),
            "coverage": int(result.coverage), "covered_classes": list(result.covered_classes),
            "class_counts": [int(c) for c in result.class_counts],
            "inception_score": round(result.inception_score, 4)}


def samples_from_png(path: Union[str, os.PathLike], summary: Optional[Dict[str, Any]] = None
                     ) -> Optional[np.ndarray]:
    """The scored samples drawn in a snapshot, uint8 ``(N, 28, 28)`` (None without them)."""
    from PIL import Image

    summary = read_png_record(path) if summary is None else summary
    box = (summary or {}).get("samples")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) and v >= 0 for v in box)):
        return None
    left, top, columns, count = box
    if not 0 < count <= 10 * SCORED_SAMPLES or not 0 < columns <= count:
        return None
    rows = math.ceil(count / columns)
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"))
    except (OSError, ValueError):
        return None
    if grey.shape[0] < top + rows * 28 or grey.shape[1] < left + columns * 28:
        return None
    grid = grey[top:top + rows * 28, left:left + columns * 28]
    tiles = grid.reshape(rows, 28, columns, 28).transpose(0, 2, 1, 3).reshape(rows * columns, 28, 28)
    return np.ascontiguousarray(tiles[:count])


def _scores_differ(claimed: Any, measured: Dict[str, Any]) -> bool:
    """Do a record's scores disagree with those measured on its picture, beyond the sample or two
    that float arithmetic on another machine may move across a decision?"""
    from ..scoring.metrics import COVERAGE_SHARE

    if not isinstance(claimed, dict):
        return True
    counts, rate, n = claimed.get("class_counts"), claimed.get("confident_rate"), measured["n"]
    if not (isinstance(counts, list) and len(counts) == len(measured["class_counts"])
            and all(isinstance(c, int) for c in counts) and sum(counts) == n == claimed.get("n")
            and isinstance(rate, (int, float))):
        return True
    moved = sum(abs(a - b) for a, b in zip(counts, measured["class_counts"]))
    covered = [digit for digit, count in enumerate(counts) if count / n >= COVERAGE_SHARE]
    return (moved > max(2, n // 100) or abs(rate - measured["confident_rate"]) > 0.01
            or claimed.get("coverage") != len(covered) or claimed.get("covered_classes") != covered)


#: PNG SHA-256 -> the scores measured on the samples drawn in it (a picture is scored once).
_MEASURED: Dict[str, Dict[str, Any]] = {}


def record_problem(record: Dict[str, Any], directory: Union[str, os.PathLike] = ".",
                   rescore: bool = False) -> Optional[str]:
    """Why a log record is not backed by its snapshot (a sentence that says what to do), or None.

    Checks that the PNG is there, unchanged, and carries the record's index, run, examples,
    configuration and digest; ``rescore``: also scores the samples drawn in the PNG again and
    compares them with the record's scores."""
    name = str(record.get("snapshot"))
    path = Path(directory) / name
    index = record.get("index")
    if Path(name).name != name or not path.is_file():
        return (f"snapshot {name} (log entry {index}) is missing: hand in every playground_*.png "
                "next to the notebook, or delete that line from the log")
    if png_sha256(path) != record.get("png_sha256"):
        return (f"{name} is not the picture saved with log entry {index}: hand in the snapshot as the "
                "Playground saved it")
    summary = read_png_record(path)
    if summary is None:
        return f"{name} is not a Playground snapshot: hand in the PNG the Playground saved"
    for key in ("index", "run", "examples"):
        if summary.get(key) != record.get(key):
            return (f"log entry {index} says {key} {record.get(key)!r}, its picture {name} says "
                    f"{summary.get(key)!r}: the log was edited; put back the value the Playground wrote "
                    "(or take a new snapshot)")
    if summary.get("configuration") != configuration_fingerprint(record):
        return (f"log entry {index} names other models or settings than its picture {name} was taken "
                "with: put back what the Playground wrote")
    if "record" in summary and summary["record"] != record_digest(record):
        return (f"log entry {index} was edited after its snapshot {name} was taken (its scores, metrics "
                "or another field no longer match the picture): put back the line the Playground wrote")
    if rescore and record.get("scores") is not None:
        measured = _MEASURED.get(record["png_sha256"])
        if measured is None:
            pixels = samples_from_png(path, summary)
            if pixels is None:
                return f"{name} does not show the samples the log entry {index} scores"
            measured = _MEASURED[record["png_sha256"]] = score_pixels(pixels)
        if _scores_differ(record["scores"], measured):
            return (f"the scores of log entry {index} are not those of the samples drawn in {name}: "
                    "hand in the log and snapshots as the Playground wrote them")
    return None


def read_log(path: Union[str, os.PathLike] = LOG_NAME) -> List[Dict[str, Any]]:
    """The records of an experiment log, oldest first ([] when there is no log).

    Lines that are not JSON objects are skipped: a log edited by hand stays readable."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_png_record(path: Union[str, os.PathLike]) -> Optional[Dict[str, Any]]:
    """The record summary a snapshot PNG carries (None if it is not a snapshot PNG)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            text = getattr(image, "text", {}) or {}
    except (OSError, ValueError):
        return None
    try:
        value = json.loads(text.get(PNG_KEY, ""))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def runs_of(records: Sequence[Dict[str, Any]]) -> Dict[int, List[Dict[str, Any]]]:
    """Records grouped by run, each run's records in order of examples trained."""
    runs: Dict[int, List[Dict[str, Any]]] = {}
    for record in records:
        runs.setdefault(record.get("run"), []).append(record)
    return {run: sorted(items, key=lambda r: r.get("examples", 0)) for run, items in runs.items()}


def _model_text(model: Dict[str, Any]) -> str:
    from ..torch_gan.layer_spec import Layer

    return " → ".join(Layer.from_dict(layer).describe() for layer in model.get("layers", []))


def log_table_html(records: Sequence[Dict[str, Any]]) -> str:
    """The log as an HTML table: one row per snapshot."""
    if not records:
        return "<i>The experiment log is empty: press Snapshot in the Playground.</i>"
    head = ("<tr><th>#</th><th>run</th><th>seed</th><th>data</th><th>examples</th><th>G</th><th>D</th>"
            "<th>G opt / lr</th><th>D opt / lr</th><th>D loss</th><th>G loss</th><th>D acc</th>"
            "<th>confident</th><th>digits covered</th><th>per-digit counts (digit: samples)</th>"
            "<th>snapshot</th></tr>")
    rows = []
    for r in records:
        m, s = r.get("metrics", {}), r.get("scores") or {}
        counts = s.get("class_counts")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r.get("index"), r.get("run"), r.get("seed"), r.get("data"), f"{r.get('examples', 0):,}",
            _model_text(r.get("generator", {})), _model_text(r.get("discriminator", {})),
            f"{r.get('g_optimizer')} {r.get('g_lr')}", f"{r.get('d_optimizer')} {r.get('d_lr')}",
            _fmt(m.get("d_loss")), _fmt(m.get("g_loss")), _fmt(m.get("d_accuracy")),
            "" if not s else f"{s.get('confident_rate', 0):.0%}",
            "" if not s else f"{s.get('coverage')}/10",
            "" if counts is None else " · ".join(f"{digit}: {count}" for digit, count in enumerate(counts)),
            r.get("snapshot"))) + "</tr>")
    return ("<table style='font-size:12px'><thead>" + head + "</thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _fmt(value: Any) -> str:
    return "" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.3f}"


def gallery_html(records: Sequence[Dict[str, Any]], directory: Union[str, os.PathLike] = ".",
                 width: int = 420) -> str:
    """The snapshots as a gallery of thumbnails, each captioned with its record."""
    from PIL import Image

    items = []
    for r in records:
        path = Path(directory) / str(r.get("snapshot", ""))
        if not path.is_file():
            items.append(f"<div style='margin:4px'>#{r.get('index')}: {html.escape(str(path.name))} "
                         "is missing</div>")
            continue
        box = (read_png_record(path) or {}).get("samples")
        with Image.open(path) as image:
            image = image.convert("RGB")
            if isinstance(box, list) and len(box) == 4 and isinstance(box[1], int) and 24 < box[1] < image.height:
                image = image.crop((0, 0, image.width, box[1] - 24))  # the view, not the 500 scored samples
            image.thumbnail((width, width * 4))
            image = image.quantize(colors=64)  # a plot and digits: a small palette keeps notebooks light
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        caption = (f"#{r.get('index')} · run {r.get('run')} · {r.get('examples', 0):,} examples · "
                   f"G {r.get('g_optimizer')} {r.get('g_lr')} / D {r.get('d_optimizer')} {r.get('d_lr')}")
        items.append(f"<figure style='display:inline-block;margin:4px'><img src='data:image/png;"
                     f"base64,{data}' style='width:{width}px'/><figcaption style='font-size:12px'>"
                     f"{html.escape(caption)}</figcaption></figure>")
    return "<div>" + "".join(items) + "</div>" if items else "<i>No snapshots yet.</i>"


# --------------------------------------------------------------------------- drawing

def _text_lines(draw, lines: Sequence[Tuple[str, Tuple[int, int, int]]], origin: Tuple[int, int],
                size: int = 13, spacing: int = 17) -> None:
    x, y = origin
    for text, color in lines:
        draw.text((x, y), text, fill=color, font=drawing._font(size))
        y += spacing


def draw_playground(session: "PlaygroundSession", live: bool = True):
    """The whole Playground view as one PIL image: both models with their shapes, the
    settings, real and generated images with D's verdicts, the curves and statistics.
    ``live=False`` leaves out the wall-clock speed (a reproducible picture)."""
    from PIL import ImageDraw

    verdicts = session.verdicts
    if verdicts is None:
        grid = drawing._placeholder(2 * 3 * (28 * 2 + 12) + 30, 300, "press Train to see D's verdicts")
    else:
        grid = drawing.draw_labelled_grid(verdicts[0], verdicts[1], verdicts[2], verdicts[3],
                                          columns=3, scale=2)
    curves = drawing.draw_curves(session.state, width=360, height=360)
    text_width = 330
    width = text_width + grid.width + curves.width + 40
    lines: List[Tuple[str, Tuple[int, int, int]]] = []
    for spec, name in ((session.generator, "Generator"), (session.discriminator, "Discriminator")):
        report = infer_shapes(spec)
        lines.append((f"{name}: input {format_shape(spec.input_shape)}"
                      + (f" ({spec.noise} noise)" if spec.role == "generator" else ""),
                      drawing.COLORS["text"]))
        for index, layer in enumerate(spec.layers):
            shape = report.shapes[index]
            broken = report.error_at == index
            lines.append((f"  {index + 1}. {layer.describe()} -> {format_shape(shape)}",
                          drawing.COLORS["wrong"] if broken else drawing.COLORS["text"]))
        if report.error:
            lines.append((f"  ! {report.error[:60]}", drawing.COLORS["wrong"]))
        lines.append(("", drawing.COLORS["text"]))
    s = session.settings
    state = session.state
    lines += [
        (f"data: {s.data} · batch {s.batch_size}", drawing.COLORS["text"]),
        (f"G: {s.g_optimizer} lr {s.g_lr:g} · D: {s.d_optimizer} lr {s.d_lr:g}", drawing.COLORS["text"]),
        (f"examples trained: {session.examples:,}", drawing.COLORS["text"]),
        (f"D loss {_fmt(state.latest('d_loss')) or '--'} · G loss {_fmt(state.latest('g_loss')) or '--'}",
         drawing.COLORS["text"]),
        (f"D accuracy {_fmt(session.d_accuracy) or '--'}", drawing.COLORS["text"]),
    ]
    if live:
        speed = state.examples_per_second
        lines.append((f"{speed:,.0f} examples/s" if math.isfinite(speed) else "-- examples/s",
                      drawing.COLORS["text"]))
    height = max(grid.height, curves.height, 17 * len(lines) + 10) + 44
    image = drawing._new(width, height)
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), f"GAN Playground · run {session.run} · {session.status}",
              fill=drawing.COLORS["text"], font=drawing._font(16))
    _text_lines(draw, lines, (10, 38), size=12)
    image.paste(grid.convert("RGB"), (text_width + 20, 38))
    image.paste(curves.convert("RGB"), (text_width + grid.width + 30, 38))
    return image


def _quantize(pixels: np.ndarray) -> np.ndarray:
    """uint8 grey pixels rounded to the nearest of SAMPLE_LEVELS levels (0 and 255 kept)."""
    step = 255 / (SAMPLE_LEVELS - 1)
    return (np.round(pixels.astype(np.float32) / step) * step + 0.5).astype(np.uint8)


def _with_scored_samples(image, pixels: np.ndarray):
    """The view with the scored samples drawn below it at 1:1, and their box
    ``[left, top, columns, count]`` (what :func:`samples_from_png` reads back). A palette image:
    the view in up to 240 colours, the samples' grey levels exact (a snapshot stays small)."""
    from PIL import Image, ImageDraw

    count = len(pixels)
    columns = min(SAMPLES_COLUMNS, count)
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * 28, columns * 28), dtype=np.uint8)
    for number, tile in enumerate(pixels):
        row, column = divmod(number, columns)
        grid[row * 28:(row + 1) * 28, column * 28:(column + 1) * 28] = tile
    left, top = 10, image.height + 24
    canvas = drawing._new(max(image.width, left + columns * 28 + 10), top + rows * 28 + 10)
    canvas.paste(image.convert("RGB"), (0, 0))
    ImageDraw.Draw(canvas).text((left, image.height + 4), f"the {count} samples the digit classifier "
                                "scored for the log (fixed noise)", fill=drawing.COLORS["text"],
                                font=drawing._font(12))
    view = canvas.quantize(colors=256 - SAMPLE_LEVELS, dither=Image.Dither.NONE)
    palette = view.getpalette()[:3 * (256 - SAMPLE_LEVELS)]
    palette += [0] * (3 * (256 - SAMPLE_LEVELS) - len(palette))
    levels = _quantize(np.arange(256, dtype=np.uint8))
    greys = sorted(set(levels.tolist()))
    for grey in greys:
        palette += [grey, grey, grey]
    view.putpalette(palette)
    index_of = {grey: 256 - SAMPLE_LEVELS + number for number, grey in enumerate(greys)}
    indices = np.vectorize(index_of.__getitem__, otypes=[np.uint8])(_quantize(grid))
    array = np.array(view)
    array[top:top + rows * 28, left:left + columns * 28] = indices
    result = Image.fromarray(array, mode="P")
    result.putpalette(palette)
    return result, [left, top, columns, count]


# --------------------------------------------------------------------------- the session

class PlaygroundSession:
    """Models, settings, the run and the log of one Playground (no widgets).

    Args:
        directory: where the log and the snapshots go (the notebook's folder).
        model: the preset both networks start from.
        settings: training settings (defaults: :class:`TrainingSettings`).
        auto_snapshots: examples trained at which a snapshot is taken by itself.
        dataset: an :class:`~ganlab_kit.data.ImageDataset` to use instead of loading
            ``settings.data`` (tests, a subset).
    """

    def __init__(self, directory: Union[str, os.PathLike] = ".", model: str = "Convolutional",
                 settings: Optional[TrainingSettings] = None,
                 auto_snapshots: Sequence[int] = AUTO_SNAPSHOTS, dataset: Any = None,
                 log_name: str = LOG_NAME) -> None:
        self.directory = Path(directory)
        self.log_path = self.directory / log_name
        self.settings = settings or TrainingSettings()
        self.settings.check()
        self.auto_snapshots = tuple(sorted(int(v) for v in auto_snapshots))
        self._datasets: Dict[str, Any] = {}
        if dataset is not None:
            self._datasets[self.settings.data] = dataset
        self.generator: ModelSpec = preset(model, "generator", self.image_shape)
        self.discriminator: ModelSpec = preset(model, "discriminator", self.image_shape)
        self.trainer = None
        self._thread: Optional[threading.Thread] = None
        self._thread_error: Optional[BaseException] = None
        self.state = DashboardState()
        self.verdicts: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None
        self.run = self._next_run_number()
        self._pending_snapshots: List[str] = []
        self._next_auto = 0
        self._lock = threading.RLock()
        self.listeners: List[Callable[[str], None]] = []  # "step", "paused", "final", "snapshot", "run"
        self.last_snapshot: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ data
    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """[height, width, channels] of the chosen data set (without loading it)."""
        return (32, 32, 3) if self.settings.data == "cifar10" else (28, 28, 1)

    def dataset(self):
        """The chosen data set, loaded once; raises DataNotFoundError with what to do."""
        name = self.settings.data
        if name not in self._datasets:
            from ..data import load_dataset

            self._datasets[name] = load_dataset(name, allow_download=False)
        return self._datasets[name]

    def set_data(self, name: str) -> None:
        """Switch data sets. When the image shape changes, a preset model is rebuilt for it;
        an edited model keeps its layers (and is flagged where they no longer fit)."""
        if name not in dict((v, k) for k, v in DATASET_CHOICES):
            raise ValueError(f"unknown data set {name!r}; choose one of "
                             f"{[v for _, v in DATASET_CHOICES]}")
        self._refuse_while_running()
        self.stop()  # a paused run ends (and tells its listeners) before the models change
        old_shape = self.image_shape
        presets = {role: next((model for model in PRESETS if getattr(self, role).to_dict()
                               == preset(model, role, old_shape, getattr(self, role).latent_dim).to_dict()),
                              None) for role in ("generator", "discriminator")}
        self.settings.data = name
        if self.image_shape != old_shape:
            # a preset follows the data's shape; an edited model keeps its layers
            for role, model in presets.items():
                spec = getattr(self, role)
                if model is None:
                    spec.image_shape = self.image_shape
                else:
                    setattr(self, role, preset(model, role, self.image_shape, spec.latent_dim))
        self.model_changed()

    # ------------------------------------------------------------------ models
    def load_preset(self, name: str) -> None:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")
        self._refuse_while_running()
        self.stop()  # a paused run ends (and tells its listeners) before the models change
        self.generator = preset(name, "generator", self.image_shape, self.generator.latent_dim)
        self.discriminator = preset(name, "discriminator", self.image_shape)
        self.model_changed()

    @property
    def problems(self) -> List[str]:
        """Why Train is disabled: shape errors of either model."""
        found = []
        for spec, name in ((self.generator, "G"), (self.discriminator, "D")):
            report = infer_shapes(spec)
            if report.error:
                found.append(f"{name}: {report.error}")
        return found

    @property
    def can_train(self) -> bool:
        return not self.problems

    @property
    def can_edit(self) -> bool:
        """Models and settings are edited between runs, or while a run is paused/stopped."""
        return not self.is_running

    def _refuse_while_running(self) -> None:
        if self.is_running:
            raise RuntimeError("pause or reset the run before changing the models or settings")

    def model_changed(self) -> None:
        """Models or settings changed: the next Train starts a fresh run."""
        self._refuse_while_running()
        self.stop()
        if self.trainer is not None:
            self._discard_run()

    # ------------------------------------------------------------------ running
    @property
    def is_training(self) -> bool:
        """A run is in progress in the background (running or paused)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def is_running(self) -> bool:
        return self.is_training and not self.trainer.is_paused

    @property
    def status(self) -> str:
        if self.trainer is None:
            return "ready" if self.can_train else "model invalid"
        return self.state.status

    @property
    def examples(self) -> int:
        """Real images D has seen in this run."""
        if self.trainer is None:
            return 0
        return int(self.trainer.step * self.trainer.config.batch_size * self.trainer.config.d_steps)

    @property
    def d_accuracy(self) -> float:
        real, fake = self.state.latest("d_acc_real"), self.state.latest("d_acc_fake")
        return (real + fake) / 2 if math.isfinite(real) and math.isfinite(fake) else math.nan

    def _next_run_number(self) -> int:
        runs = [r.get("run") for r in read_log(self.log_path)]
        return max([r for r in runs if isinstance(r, int)] + [0]) + 1

    def _discard_run(self) -> None:
        self.trainer = None
        self._thread = None
        self.state = DashboardState()
        self.verdicts = None
        self._pending_snapshots.clear()
        self._next_auto = 0
        self.run = self._next_run_number()
        self._notify("run")

    def build_trainer(self):
        """A fresh kit trainer for the current models and settings (not started)."""
        import torch

        from ..torch_gan.trainer import Callback

        if not self.can_train:
            raise ValueError("the model is invalid: " + "; ".join(self.problems))
        data = self.dataset()
        if tuple(data.image_shape) != (self.image_shape[2], self.image_shape[0], self.image_shape[1]):
            raise ValueError(f"the data's images are {tuple(data.image_shape)} (channels first), "
                             f"the models expect {format_shape(self.image_shape)}")
        s = self.settings
        torch.manual_seed(s.seed)
        generator = build_module(self.generator)
        discriminator = build_module(self.discriminator)
        trainer = _playground_trainer_class()(
            generator, discriminator, data, noise=self.generator.noise,
            g_optimizer=make_optimizer(s.g_optimizer, generator.parameters(), s.g_lr),
            d_optimizer=make_optimizer(s.d_optimizer, discriminator.parameters(), s.d_lr),
            batch_size=int(s.batch_size), seed=s.seed, snapshot_every=0, n_fixed=VIEW_IMAGES,
            steps=FOREVER_STEPS, track_grad_norm=False)
        session = self

        class _Recorder(Callback):
            """Feeds the view's state from the trainer, on the training thread."""

            def on_train_begin(self, trainer):
                session.state.begin(trainer.step, None)

            def on_step_end(self, trainer, record):
                session.state.add_record(record)
                session.state.set_paused(trainer.is_paused)  # a step that ends in a pause
                session._after_step()

            def on_train_end(self, trainer):
                error = sys.exc_info()[1]
                session.state.end(stopped=trainer.stop_requested and error is None,
                                  error=None if error is None else f"{type(error).__name__}: {error}")
                session._after_step(final=True)

        trainer.callbacks.append(_Recorder())
        trainer.on_park = lambda: self._notify("paused")
        rng = np.random.default_rng(s.seed)
        pool = data.images
        self._real_view = pool[torch.as_tensor(rng.choice(len(pool), VIEW_IMAGES, replace=False))]
        self.trainer = trainer
        self.refresh_verdicts()
        return trainer

    def _ensure_trainer(self):
        if self.trainer is None:
            self.build_trainer()
        return self.trainer

    def start(self, examples: Optional[int] = None) -> None:
        """The Train button: resume a paused run, or train in a background thread until
        Pause (or until ``examples`` in all have been trained). The notebook stays free."""
        if self.is_training:
            if self.trainer.is_paused:
                self.trainer.resume()
                self.state.set_paused(False)
            return
        trainer = self._ensure_trainer()
        steps = FOREVER_STEPS if examples is None else self._steps_until(examples)
        self._thread_error = None

        def train() -> None:
            try:
                trainer.fit(steps)
            except BaseException as error:  # shown in the view, raised again by wait()
                self._thread_error = error

        self._thread = threading.Thread(target=train, name="ganlab-playground", daemon=True)
        self._thread.start()

    def train(self, examples: int) -> None:
        """Train until ``examples`` real images in all have been seen, in this thread (scripts,
        tests, benchmarks); auto snapshots and the view update as with the button."""
        if self.is_training:
            raise RuntimeError("the Playground is training in the background; pause or reset it first")
        trainer = self._ensure_trainer()
        steps = self._steps_until(examples)
        if steps:
            trainer.fit(steps)

    def _steps_until(self, examples: int) -> int:
        per_step = self.settings.batch_size
        return max(0, math.ceil(int(examples) / per_step) - (self.trainer.step if self.trainer else 0))

    def pause(self) -> None:
        """The Pause button: training halts after the current step (Train resumes)."""
        if self.is_running:
            self.trainer.pause()
            self.state.set_paused(True)

    def stop(self, timeout: Optional[float] = 60.0) -> None:
        """End the background training (Train continues the same run)."""
        if self.is_training:
            self.trainer.stop()
            self.wait(timeout)

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait for the background training to end; re-raise its error if it failed."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"training still running after {timeout} s")
        if self._thread_error is not None:
            error, self._thread_error = self._thread_error, None
            raise error

    def reset(self) -> None:
        """The Reset button: stop training; the next Train starts with fresh weights."""
        self.stop()
        self._discard_run()

    # ------------------------------------------------------------------ view and snapshots
    def refresh_verdicts(self) -> None:
        """Real and generated images with D's P(real): what the view shows. Run on the
        thread that trains (or while nothing trains): it switches the models to eval."""
        import torch

        from ._models import forward

        trainer = self.trainer
        if trainer is None:
            self.verdicts = None
            return
        fake = trainer.sample().numpy()
        real = self._real_view.numpy()
        with torch.no_grad():
            p_real = forward(trainer.discriminator, real).reshape(-1)
            p_fake = forward(trainer.discriminator, fake).reshape(-1)
        self.verdicts = (real, np.clip(p_real, 0, 1), fake, np.clip(p_fake, 0, 1))

    def request_snapshot(self, reason: str = "button") -> Optional[Dict[str, Any]]:
        """The Snapshot button: taken at once when nothing trains, else after the current
        step on the training thread (the models are never touched from two threads)."""
        if self.is_training:
            if not self.trainer.is_paused or not self.trainer.parked.wait(5.0):
                with self._lock:
                    self._pending_snapshots.append(reason)
                return None
        return self.snapshot(reason)

    def _after_step(self, final: bool = False) -> None:
        with self._lock:
            pending, self._pending_snapshots = self._pending_snapshots, []
        examples = self.examples
        while self._next_auto < len(self.auto_snapshots) and examples >= self.auto_snapshots[self._next_auto]:
            self._next_auto += 1
            pending.append(f"auto {self.auto_snapshots[self._next_auto - 1]}")
        for reason in pending:
            self.snapshot(reason)
        self._notify("final" if final else "step")

    def scores(self) -> Optional[Dict[str, Any]]:
        """The digit classifier's scores of the generator's samples (digit data only)."""
        pixels = self.scored_pixels()
        return None if pixels is None else score_pixels(pixels)

    def scored_pixels(self) -> Optional[np.ndarray]:
        """The samples the classifier scores, as uint8 ``(N, 28, 28)`` (digit data only): fixed
        noise, so snapshots of one run show the same noise's images."""
        if self.trainer is None or self.settings.data not in DIGIT_DATASETS:
            return None
        import torch

        generator = self.trainer.generator
        rng = torch.Generator().manual_seed(12345)
        noise = (torch.rand(SCORED_SAMPLES, self.generator.latent_dim, generator=rng) * 2 - 1
                 if self.generator.noise == "uniform" else
                 torch.randn(SCORED_SAMPLES, self.generator.latent_dim, generator=rng))
        images = self.trainer.sample(noise)
        return _quantize(drawing.to_pixels(images)[..., 0])

    def record(self, reason: str, index: int, snapshot: str,
               pixels: Optional[np.ndarray] = None) -> Dict[str, Any]:
        s, state = self.settings, self.state
        metrics = {name: state.latest(name) for name in
                   ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake")}
        metrics["d_accuracy"] = self.d_accuracy
        metrics["examples_per_sec"] = state.examples_per_second
        metrics = {k: (round(float(v), 5) if math.isfinite(v) else None) for k, v in metrics.items()}
        return {
            "version": 1, "index": index, "run": self.run, "reason": reason,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "data": s.data, "image_shape": list(self.image_shape),
            "examples": self.examples, "steps": int(self.trainer.step) if self.trainer else 0,
            "batch_size": int(s.batch_size), "seed": int(s.seed),
            "generator": self.generator.to_dict(), "discriminator": self.discriminator.to_dict(),
            "g_optimizer": s.g_optimizer, "g_lr": float(s.g_lr),
            "d_optimizer": s.d_optimizer, "d_lr": float(s.d_lr),
            "metrics": metrics, "scores": None if pixels is None else score_pixels(pixels),
            "snapshot": snapshot,
        }

    def snapshot(self, reason: str = "button") -> Dict[str, Any]:
        """Save a PNG of the whole view and append its record to the log; returns the record."""
        from PIL.PngImagePlugin import PngInfo

        with self._lock:
            self.refresh_verdicts()
            records = read_log(self.log_path)
            index = max([r.get("index", 0) for r in records if isinstance(r.get("index"), int)] + [0]) + 1
            name = f"playground_{index:03d}.png"
            pixels = self.scored_pixels()
            record = self.record(reason, index, name, pixels)
            image = draw_playground(self)
            summary = {"index": index, "run": self.run, "examples": record["examples"],
                       "configuration": configuration_fingerprint(record), "record": record_digest(record)}
            if pixels is not None:
                image, summary["samples"] = _with_scored_samples(image, pixels)
            info = PngInfo()
            info.add_text(PNG_KEY, json.dumps(summary))
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / name
            image.save(path, format="PNG", pnginfo=info, optimize=True)
            record["png_sha256"] = png_sha256(path)
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            self.last_snapshot = record
        self._notify("snapshot")
        return record

    def _notify(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    def to_png(self, live: bool = False) -> bytes:
        return drawing.png_bytes(draw_playground(self, live=live))
