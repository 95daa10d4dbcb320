"""Lightweight drawing with Pillow: curves, image grids and labels as PNG bytes.

Pillow draws a dashboard frame in a few milliseconds (matplotlib needs tens),
which is what keeps a live dashboard under a few percent of training time. The
same functions draw the static PNG that headless runs leave behind; nothing
drawn there depends on the wall clock, so a seeded run gives identical bytes.
"""
from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .state import DashboardState, bucket_means

__all__ = [
    "COLORS",
    "is_channels_last",
    "to_pixels",
    "tile_images",
    "draw_curves",
    "draw_image_grid",
    "draw_labelled_grid",
    "draw_noise_and_samples",
    "draw_dashboard",
    "png_bytes",
]

Color = Tuple[int, int, int]

#: The palette: one colour per series, green / red for D's verdicts.
COLORS = {
    "d_loss": (31, 119, 180), "g_loss": (255, 127, 14),
    "d_acc_real": (44, 160, 44), "d_acc_fake": (214, 39, 40),
    "d_real": (44, 160, 44), "d_fake": (214, 39, 40),
    "right": (30, 150, 50), "wrong": (210, 35, 35),
    "text": (30, 30, 30), "muted": (120, 120, 120), "grid": (225, 225, 225),
    "frame": (170, 170, 170), "background": (255, 255, 255), "alarm": (200, 40, 30),
    "inception_score": (148, 103, 189), "coverage": (140, 86, 75), "confident_rate": (23, 190, 207),
    "bar": (150, 150, 150),
}

#: Panels of the curve plot: title, fixed y range (None: automatic), series.
PANELS = (
    ("losses", None, (("d_loss", "D loss"), ("g_loss", "G loss"))),
    ("D accuracy", (0.0, 1.0), (("d_acc_real", "on real"), ("d_acc_fake", "on fake"))),
    ("D outputs", (0.0, 1.0), (("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))"))),
)


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def _new(width: int, height: int):
    from PIL import Image

    return Image.new("RGB", (int(width), int(height)), COLORS["background"])


def png_bytes(image, fast: bool = False) -> bytes:
    """Encode a PIL image as PNG; ``fast`` trades size for speed (live redraws)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1 if fast else 6)
    return buffer.getvalue()


def is_channels_last(shape: Sequence[int]) -> bool:
    """Is a batch of shape ``(N, H, W, C)`` rather than ``(N, C, H, W)``? (C is 1 or 3;
    when both readings fit, e.g. ``(N, 3, 5, 3)``, PyTorch's channels-first wins.)"""
    return len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3)


def _unflatten(array: np.ndarray) -> np.ndarray:
    """``(N, D)`` flat images (an MLP generator's output) -> ``(N, H, W)`` grey when D is a square
    (784 -> 28 x 28) or ``(N, H, W, 3)`` colour when D / 3 is (3072 -> 32 x 32 x 3, Keras' order)."""
    size = array.shape[1]
    side = math.isqrt(size)
    if side * side == size:
        return array.reshape(len(array), side, side)
    side = math.isqrt(size // 3)
    if size % 3 == 0 and 3 * side * side == size:
        return array.reshape(len(array), side, side, 3)
    raise ValueError(f"cannot draw flat images of {size} values each (shape {array.shape}): "
                     "reshape them to (N, H, W) or (N, H, W, C) first")


def to_pixels(images, value_range: Tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Images ``(N, C, H, W)`` or ``(N, H, W, C)`` (C in 1, 3), ``(N, H, W)``, or flat
    ``(N, H * W)`` / ``(N, H * W * 3)``, -> uint8 ``(N, H, W, C)``."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 2:
        array = _unflatten(array)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(
            f"expected a batch of images (N, C, H, W), (N, H, W, C) or flat (N, H * W), "
            f"got shape {array.shape}")
    if not is_channels_last(array.shape):
        array = array.transpose(0, 2, 3, 1)  # channels first -> channels last
    low, high = value_range
    scaled = (array - low) / (high - low)
    return (np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def tile_images(images, columns: Optional[int] = None, padding: int = 2, scale: int = 1,
                value_range: Tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Tile a batch into one uint8 array ``(rows*(H*scale+p)+p, cols*(W*scale+p)+p, C)``."""
    pixels = to_pixels(images, value_range)
    if scale > 1:
        pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    count, height, width, channels = pixels.shape
    columns = columns or max(1, int(math.ceil(math.sqrt(count))))
    rows = max(1, int(math.ceil(count / columns)))
    grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding,
                    channels), 255, dtype=np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top:top + height, left:left + width] = pixels[index]
    return grid


def _pil(pixels: np.ndarray):
    """uint8 ``(H, W, 1)`` -> a grey PIL image (a third of the PNG work), ``(H, W, 3)`` -> RGB."""
    from PIL import Image

    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def draw_image_grid(images, columns: Optional[int] = None, scale: int = 1):
    """A PIL image of the tiled batch (see :func:`tile_images`)."""
    return _pil(tile_images(images, columns, scale=scale))


def _ticks(low: float, high: float) -> List[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    return [low, (low + high) / 2.0, high]


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _draw_panel(draw, box: Tuple[int, int, int, int], title: str,
                y_range: Optional[Tuple[float, float]],
                series: Sequence[Tuple[np.ndarray, np.ndarray, Color, str]],
                x_range: Tuple[float, float],
                levels: Sequence[Tuple[float, Color]] = ()) -> None:
    left, top, right, bottom = box
    font, small = _font(13), _font(11)
    draw.text((left + 4, top + 2), title, fill=COLORS["text"], font=font)
    # legend, right-aligned on the title line
    cursor = right - 4
    for _, _, color, label in reversed(series):
        width = int(draw.textlength(label, font=small))
        cursor -= width
        draw.text((cursor, top + 4), label, fill=COLORS["text"], font=small)
        cursor -= 18
        draw.line((cursor, top + 11, cursor + 14, top + 11), fill=color, width=3)
        cursor -= 10
    plot = (left + 44, top + 22, right - 8, bottom - 18)
    x0, y0, x1, y1 = plot
    values = [y for _, y, _, _ in series if len(y)]
    if y_range is None:
        finite = np.concatenate(values) if values else np.array([])
        finite = finite[np.isfinite(finite)]
        if len(finite):
            low, high = min(0.0, float(finite.min())), float(finite.max())
            high = high + 0.05 * (high - low) if high > low else low + 1.0
        else:
            low, high = 0.0, 1.0
    else:
        low, high = y_range
    for tick in _ticks(low, high):
        y = y1 - (tick - low) / (high - low) * (y1 - y0) if high > low else (y0 + y1) / 2
        draw.line((x0, y, x1, y), fill=COLORS["grid"], width=1)
        label = _tick_label(tick)
        draw.text((x0 - 4 - draw.textlength(label, font=small), y - 7), label,
                  fill=COLORS["muted"], font=small)
    draw.rectangle(plot, outline=COLORS["frame"], width=1)
    for level, color in levels:  # dashed horizontal lines: a bar to reach
        if high > low and low <= level <= high:
            y = y1 - (level - low) / (high - low) * (y1 - y0)
            for start in range(int(x0), int(x1), 8):
                draw.line((start, y, min(start + 4, x1), y), fill=color, width=2)
    first, last = x_range
    if math.isfinite(first) and math.isfinite(last):
        draw.text((x0, y1 + 3), f"{int(first)}", fill=COLORS["muted"], font=small)
        end_label = f"step {int(last)}"
        draw.text((x1 - draw.textlength(end_label, font=small), y1 + 3), end_label,
                  fill=COLORS["muted"], font=small)
    span = last - first if last > first else 1.0
    for x_values, y_values, color, _ in series:
        if not len(x_values):
            continue
        xs = x0 + (x_values - first) / span * (x1 - x0)
        ys = y1 - (np.clip(y_values, low, high) - low) / (high - low) * (y1 - y0)
        points = list(zip(xs.tolist(), ys.tolist()))
        if len(points) == 1:
            px, py = points[0]
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=color)
        else:
            draw.line(points, fill=color, width=2, joint="curve")


def _quality_panel(state: DashboardState):
    """Title, y range, series and bar levels of the live quality readout (all on 0..1)."""
    bar = state.quality_bar
    steps = np.asarray(state.quality_steps, dtype=np.float64)
    scale = {"inception_score": 10.0, "coverage": 10.0, "confident_rate": 1.0}
    labels = {"inception_score": "IS/10", "coverage": "digits/10", "confident_rate": "confident"}
    series = [(steps, np.asarray(state.quality[name], dtype=np.float64) / scale[name],
               COLORS[name], labels[name]) for name in scale]
    title = "quality"
    levels = []
    if bar is not None:
        title += f" (- - bar: IS {bar.inception_score:g}, {bar.coverage}, {bar.confident_rate:.0%})"
        levels = [(bar.inception_score / 10.0, COLORS["inception_score"]),
                  (bar.coverage / 10.0, COLORS["coverage"]),
                  (bar.confident_rate, COLORS["confident_rate"])]
    return title, series, levels


def draw_curves(state: DashboardState, width: int = 440, height: Optional[int] = None):
    """The curve panels (losses, D accuracy, mean D outputs and, once the classifier has
    scored samples, their quality against the bar) stacked in a column, 160 pixels each."""
    from PIL import ImageDraw

    quality = bool(state.quality_steps)
    panels = len(PANELS) + quality
    height = height or 160 * panels
    if not state.steps and state.note:
        return _placeholder(width, height, state.note)
    image = _new(width, height)
    draw = ImageDraw.Draw(image)
    steps = state.steps
    x_range = (float(steps[0]), float(steps[-1])) if steps else (math.nan, math.nan)
    panel_height = height // panels
    buckets = max(2, (width - 52) // 2)
    for index, (title, y_range, names) in enumerate(PANELS):
        series = []
        for name, label in names:
            x, y = bucket_means(steps, state.metrics[name], buckets)
            series.append((x, y, COLORS[name], label))
        top = index * panel_height
        _draw_panel(draw, (0, top, width, top + panel_height - 4), title, y_range, series, x_range)
    if quality:
        title, series, levels = _quality_panel(state)
        top = len(PANELS) * panel_height
        _draw_panel(draw, (0, top, width, top + panel_height - 4), title, (0.0, 1.05), series,
                    x_range, levels)
    return image


def _placeholder(width: int, height: int, text: str):
    from PIL import ImageDraw

    image = _new(width, height)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), outline=COLORS["frame"])
    font = _font(13)
    lines = _wrap(text, font, width - 24, draw)
    top = height / 2 - 9 * len(lines)
    for index, line in enumerate(lines):
        draw.text(((width - draw.textlength(line, font=font)) / 2, top + 18 * index), line,
                  fill=COLORS["muted"], font=font)
    return image


def draw_samples(state: DashboardState, columns: int = 8, scale: int = 2):
    """The latest fixed-noise snapshot as a grid, titled with its step (grey or RGB)."""
    from PIL import Image, ImageDraw

    if state.snapshot_images is None:
        side = columns * (28 * scale + 2) + 2
        return _placeholder(side, side + 20, "samples appear at the first snapshot")
    grid = _pil(tile_images(state.snapshot_images, columns, scale=scale))
    image = Image.new(grid.mode, (grid.width, grid.height + 20), 255)
    draw = ImageDraw.Draw(image)
    draw.text((2, 2), f"samples from fixed noise, step {state.snapshot_step}",
              fill=COLORS["text"] if grid.mode == "RGB" else 30, font=_font(13))
    image.paste(grid, (0, 20))
    return image


def _alarm_lines(state: DashboardState) -> List[Tuple[str, Color]]:
    lines = []
    for alarm in state.alarms:
        if alarm.active:
            lines.append((f"ALARM (step {alarm.step}): {alarm.message}", COLORS["alarm"]))
        else:
            lines.append((f"cleared at step {alarm.cleared_step}: {alarm.message}",
                          COLORS["muted"]))
    if not lines:
        lines.append(("No failure-mode alarms.", COLORS["muted"]))
    return lines


def _wrap(text: str, font, width: float, draw) -> List[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def draw_dashboard(state: DashboardState, title: str = "GAN training", columns: int = 8,
                   live: bool = False):
    """The whole dashboard as one image: header, curves, samples, alarms.

    With ``live=False`` (the static PNG) nothing that depends on the wall clock
    (examples per second, ETA) is drawn, so a seeded run always gives the same image.
    """
    from PIL import ImageDraw

    curves = draw_curves(state)
    samples = draw_samples(state, columns)
    width = curves.width + samples.width + 30
    probe = ImageDraw.Draw(_new(1, 1))
    font = _font(13)
    alarm_rows = [(line, color) for text, color in _alarm_lines(state)
                  for line in _wrap(text, font, width - 20, probe)]
    body = max(curves.height, samples.height)
    height = 36 + body + 12 + 18 * len(alarm_rows) + 8
    image = _new(width, height)
    draw = ImageDraw.Draw(image)
    header = f"{title} · {state.step_text()} · {state.status}"
    if state.note and not state.steps:
        header = f"{title} · {state.note.split(':')[0]}"  # the note's first clause; all of it below
    if live:
        header += f" · {state.speed_text()}"
    draw.text((10, 8), header, fill=COLORS["text"], font=_font(16))
    image.paste(curves, (10, 36))
    image.paste(samples, (curves.width + 20, 36))
    y = 36 + body + 12
    for line, color in alarm_rows:
        draw.text((10, y), line, fill=color, font=font)
        y += 18
    return image


def draw_labelled_grid(real_images, real_probabilities: Sequence[float], fake_images,
                       fake_probabilities: Sequence[float], columns: int = 4, scale: int = 3,
                       value_range: Tuple[float, float] = (-1.0, 1.0)):
    """Real and generated images side by side, each labelled with D's P(real).

    A label is green where D is right (a real image above 0.5, a generated one at
    or below it) and red where D is wrong, as in the GAN Playground.
    """
    from PIL import Image, ImageDraw

    font, title_font = _font(12), _font(14)
    blocks = []
    for name, images, probabilities, is_real in (
            ("real", real_images, real_probabilities, True),
            ("generated", fake_images, fake_probabilities, False)):
        pixels = to_pixels(images, value_range)
        if pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
        blocks.append((name, pixels, np.asarray(probabilities, dtype=np.float64).reshape(-1), is_real))
    tile_h, tile_w = blocks[0][1].shape[1:3]
    cell_w, cell_h = tile_w + 12, tile_h + 30
    block_width = columns * cell_w
    rows = max(int(math.ceil(len(block[1]) / columns)) for block in blocks)
    image = _new(2 * block_width + 30, 26 + rows * cell_h + 4)
    draw = ImageDraw.Draw(image)
    for block_index, (name, pixels, probabilities, is_real) in enumerate(blocks):
        if len(probabilities) != len(pixels):
            raise ValueError(
                f"{len(pixels)} {name} images but {len(probabilities)} probabilities; "
                "give one D(x) per image")
        origin = block_index * (block_width + 30)
        right = int(np.sum((probabilities > 0.5) == is_real))
        draw.text((origin + 4, 4), f"{name}: D right on {right}/{len(pixels)}",
                  fill=COLORS["text"], font=title_font)
        for index in range(len(pixels)):
            row, column = divmod(index, columns)
            left, top = origin + column * cell_w + 6, 26 + row * cell_h
            probability = float(probabilities[index])
            correct = (probability > 0.5) == is_real
            color = COLORS["right"] if correct else COLORS["wrong"]
            draw.rectangle((left - 3, top - 3, left + tile_w + 2, top + tile_h + 2), fill=color)
            image.paste(Image.fromarray(pixels[index]), (left, top))
            label = f"real {probability:.0%}"
            draw.text((left + (tile_w - draw.textlength(label, font=font)) / 2, top + tile_h + 5),
                      label, fill=color, font=font)
    return image


def _noise_side(length: int) -> Tuple[int, int]:
    """(rows, columns) to draw a vector of ``length`` values: 100 -> (10, 10), 64 -> (8, 8)."""
    rows = int(math.isqrt(length))
    while rows > 1 and length % rows:
        rows -= 1
    if rows * rows * 4 < length:  # a long thin strip: pad to a square instead
        rows = int(math.ceil(math.sqrt(length)))
        return rows, int(math.ceil(length / rows))
    return rows, length // rows


def noise_as_images(noise, limit: float = 3.0) -> np.ndarray:
    """Noise vectors ``(N, D)`` -> images ``(N, 1, rows, cols)`` in [-1, 1] (values beyond
    +-``limit`` are clipped; padding cells of a non-rectangular D are 0, mid grey)."""
    if hasattr(noise, "detach"):
        noise = noise.detach().cpu().numpy()
    vectors = np.asarray(noise, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"noise must have shape (N, latent_dim), got {vectors.shape}")
    count, length = vectors.shape
    rows, columns = _noise_side(length)
    padded = np.zeros((count, rows * columns), dtype=np.float32)
    padded[:, :length] = np.clip(vectors / limit, -1.0, 1.0)
    return padded.reshape(count, 1, rows, columns)


def draw_noise_and_samples(noise, images, columns: int = 5, sample_scale: int = 3,
                           value_range: Tuple[float, float] = (-1.0, 1.0)):
    """Each noise vector drawn as a small image above the sample G made from it."""
    from PIL import ImageDraw

    noise_pixels = to_pixels(noise_as_images(noise))
    sample_pixels = to_pixels(images, value_range)
    if len(noise_pixels) != len(sample_pixels):
        raise ValueError(f"{len(noise_pixels)} noise vectors but {len(sample_pixels)} images")
    sample_pixels = sample_pixels.repeat(sample_scale, axis=1).repeat(sample_scale, axis=2)
    tile_h, tile_w = sample_pixels.shape[1:3]
    noise_scale = max(1, min(tile_w // noise_pixels.shape[2], tile_h // noise_pixels.shape[1]))
    noise_pixels = noise_pixels.repeat(noise_scale, axis=1).repeat(noise_scale, axis=2)
    noise_h, noise_w = noise_pixels.shape[1:3]
    cell_w = max(tile_w, noise_w) + 12
    cell_h = noise_h + tile_h + 26
    count = len(sample_pixels)
    rows = int(math.ceil(count / columns))
    image = _new(columns * cell_w + 40, rows * cell_h + 8)
    draw = ImageDraw.Draw(image)
    font = _font(12)
    for index in range(count):
        row, column = divmod(index, columns)
        left, top = 40 + column * cell_w + 6, 6 + row * cell_h
        image.paste(_pil(noise_pixels[index]), (left + (cell_w - 12 - noise_w) // 2, top))
        image.paste(_pil(sample_pixels[index]),
                    (left + (cell_w - 12 - tile_w) // 2, top + noise_h + 6))
        draw.text((left, top + noise_h + tile_h + 8), f"#{index}", fill=COLORS["muted"], font=font)
        if column == 0:
            draw.text((4, top + noise_h / 2 - 7), "z", fill=COLORS["text"], font=_font(14))
            draw.text((2, top + noise_h + 6 + tile_h / 2 - 7), "G(z)", fill=COLORS["text"],
                      font=font)
    return image
