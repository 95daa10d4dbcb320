"""Models as lists of layers, the way the GAN Playground shows them.

A :class:`ModelSpec` is a generator or a discriminator written as plain data: an input
shape and a list of :class:`Layer` s (``Layer("fc", units=256)``). :func:`infer_shapes`
walks the list and gives every layer its output shape, or, at the first layer that
cannot work, a message a student understands::

    Reshape: [256] holds 256 values, [28, 28, 1] needs 784

:func:`build_module` turns a valid spec into a ``torch.nn.Sequential``. Shapes are
written as the Playground writes them: ``[n]`` for a flat vector and
``[height, width, channels]`` for an image (``[28, 28, 1]``); the torch modules keep
PyTorch's channels-first layout inside. Nothing here imports torch until a module is
built, so the widget can check shapes at every keystroke for free.
"""
from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "LAYER_KINDS", "LayerKind", "Layer", "ModelSpec", "ShapeReport", "PRESETS",
    "can_reshape", "format_shape", "infer_shapes", "preset", "build_module",
    "RealProbability",
]

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class LayerKind:
    """What a kind of layer is called, its settings and their defaults, where it may go."""

    label: str                       # shown in the layer menu
    defaults: Dict[str, Any]         # setting -> default value
    roles: Tuple[str, ...] = ("generator", "discriminator")


#: Every layer the Playground offers, by kind. Settings hold ints (or a float rate/slope,
#: or a shape list for Reshape).
LAYER_KINDS: Dict[str, LayerKind] = {
    "fc": LayerKind("Fully connected", {"units": 128}),
    "conv": LayerKind("Convolution", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
    "deconv": LayerKind("Deconvolution", {"filters": 32, "kernel": 4, "stride": 2, "padding": 1}),
    "reshape": LayerKind("Reshape", {"shape": [28, 28, 1]}),
    "flatten": LayerKind("Flatten", {}),
    "batchnorm": LayerKind("Batch norm", {}),
    "dropout": LayerKind("Dropout", {"rate": 0.3}),
    "relu": LayerKind("ReLU", {}),
    "leakyrelu": LayerKind("LeakyReLU", {"slope": 0.2}),
    "tanh": LayerKind("Tanh", {}),
    "sigmoid": LayerKind("Sigmoid", {}),
    "softmax": LayerKind("Softmax (fake, real)", {}, roles=("discriminator",)),
}

ROLES = ("generator", "discriminator")


def format_shape(shape: Optional[Sequence[int]]) -> str:
    """``(28, 28, 1)`` -> ``"[28, 28, 1]"`` (``"?"`` when unknown)."""
    return "?" if shape is None else "[" + ", ".join(str(int(size)) for size in shape) + "]"


def can_reshape(in_shape: Sequence[int], out_shape: Sequence[int]) -> bool:
    """Can a Reshape layer turn ``in_shape`` into ``out_shape``? Only when both hold the
    same number of values: ``[800] -> [20, 10, 4]`` yes, ``[600] -> [20, 20, 2]`` no."""
    return math.prod(int(size) for size in in_shape) == math.prod(int(size) for size in out_shape)


@dataclass
class Layer:
    """One layer: its kind (a key of :data:`LAYER_KINDS`) and its settings."""

    kind: str
    params: Dict[str, Any] = field(default_factory=dict)

    def __init__(self, kind: str, **params: Any) -> None:
        if kind not in LAYER_KINDS:
            raise ValueError(f"unknown layer kind {kind!r}; choose one of {sorted(LAYER_KINDS)}")
        unknown = sorted(set(params) - set(LAYER_KINDS[kind].defaults))
        if unknown:
            raise TypeError(f"a {LAYER_KINDS[kind].label} layer has no setting(s) {unknown}; "
                            f"its settings are {sorted(LAYER_KINDS[kind].defaults)}")
        self.kind = kind
        self.params = {**LAYER_KINDS[kind].defaults, **params}
        if "shape" in self.params:
            self.params["shape"] = [int(size) for size in self.params["shape"]]

    @property
    def label(self) -> str:
        return LAYER_KINDS[self.kind].label

    def describe(self) -> str:
        """``"Fully connected 256"``, ``"Convolution 32 (4x4, stride 2, pad 1)"``..."""
        p = self.params
        if self.kind == "fc":
            return f"Fully connected {p['units']}"
        if self.kind in ("conv", "deconv"):
            return (f"{self.label} {p['filters']} ({p['kernel']}x{p['kernel']}, stride "
                    f"{p['stride']}, pad {p['padding']})")
        if self.kind == "reshape":
            return f"Reshape {format_shape(p['shape'])}"
        if self.kind == "dropout":
            return f"Dropout {p['rate']:g}"
        if self.kind == "leakyrelu":
            return f"LeakyReLU {p['slope']:g}"
        return self.label

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, **{name: (list(value) if isinstance(value, (list, tuple)) else value)
                                      for name, value in self.params.items()}}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Layer":
        data = dict(data)
        return cls(data.pop("kind"), **data)


@dataclass
class ShapeReport:
    """What :func:`infer_shapes` found: each layer's output shape or the first error."""

    input_shape: Shape
    shapes: List[Optional[Shape]]   # output shape of each layer (None from the broken one on)
    error: Optional[str] = None     # the first problem, in words
    error_at: Optional[int] = None  # index of the layer that breaks the model (len(layers): the end)

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Optional[Shape]:
        return self.shapes[-1] if self.shapes else self.input_shape


@dataclass
class ModelSpec:
    """A generator or a discriminator as data.

    ``input_shape`` is the noise ``[latent_dim]`` for a generator and the image shape
    ``[height, width, channels]`` for a discriminator; ``image_shape`` is the data's.
    A generator's noise is drawn from ``noise`` ("uniform" in [-1, 1], as in the
    Playground, or "normal").
    """

    role: str
    layers: List[Layer]
    image_shape: Shape = (28, 28, 1)
    latent_dim: int = 100
    noise: str = "uniform"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.noise not in ("uniform", "normal"):
            raise ValueError(f"noise must be 'uniform' or 'normal', got {self.noise!r}")
        self.image_shape = tuple(int(size) for size in self.image_shape)
        self.layers = [layer if isinstance(layer, Layer) else Layer.from_dict(layer)
                       for layer in self.layers]

    @property
    def input_shape(self) -> Shape:
        return (int(self.latent_dim),) if self.role == "generator" else self.image_shape

    def infer(self) -> ShapeReport:
        return infer_shapes(self)

    @property
    def valid(self) -> bool:
        return self.infer().valid

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: what the experiment log records of a model."""
        data: Dict[str, Any] = {"input": list(self.input_shape),
                                "layers": [layer.to_dict() for layer in self.layers]}
        if self.role == "generator":
            data["noise"] = self.noise
        return data

    @classmethod
    def from_dict(cls, role: str, data: Dict[str, Any], image_shape: Sequence[int]) -> "ModelSpec":
        latent = data.get("input", [100])[0] if role == "generator" else 100
        return cls(role, [Layer.from_dict(layer) for layer in data["layers"]], tuple(image_shape),
                   latent_dim=int(latent), noise=data.get("noise", "uniform"))

    def copy(self) -> "ModelSpec":
        return ModelSpec(self.role, [Layer(layer.kind, **{k: (list(v) if isinstance(v, list) else v)
                                                         for k, v in layer.params.items()})
                                     for layer in self.layers],
                         self.image_shape, self.latent_dim, self.noise)


# --------------------------------------------------------------------------- shapes

def _positive(layer: Layer, *names: str) -> Optional[str]:
    for name in names:
        value = layer.params[name]
        if not isinstance(value, int) or value < 1:
            return f"{layer.label}: {name} must be a whole number of at least 1, got {value}"
    return None


def _layer_output(layer: Layer, shape: Shape) -> Tuple[Optional[Shape], Optional[str]]:
    """(output shape, None) or (None, the reason the layer cannot take ``shape``)."""
    p, kind, label = layer.params, layer.kind, layer.label
    if kind == "fc":
        problem = _positive(layer, "units")
        if problem:
            return None, problem
        if len(shape) != 1:
            return None, (f"{label} needs a flat input [n]; it gets the image-shaped "
                          f"{format_shape(shape)}: put a Flatten layer before it")
        return (p["units"],), None
    if kind in ("conv", "deconv"):
        problem = _positive(layer, "filters", "kernel", "stride")
        if problem:
            return None, problem
        if not isinstance(p["padding"], int) or p["padding"] < 0:
            return None, f"{label}: padding must be 0 or more, got {p['padding']}"
        if len(shape) != 3:
            return None, (f"{label} needs an image-shaped input [height, width, channels]; it "
                          f"gets the flat {format_shape(shape)}: put a Reshape layer before it")
        height, width, _ = shape
        k, s, pad = p["kernel"], p["stride"], p["padding"]
        if kind == "conv":
            size = [(side + 2 * pad - k) // s + 1 for side in (height, width)]
        else:
            size = [(side - 1) * s - 2 * pad + k for side in (height, width)]
        if min(size) < 1:
            return None, (f"{label}: a {k}x{k} window with stride {s} and padding {pad} on a "
                          f"{height}x{width} input leaves no output pixels (the output would be "
                          f"{format_shape([max(size[0], 0), max(size[1], 0), p['filters']])}); "
                          "use a smaller kernel or stride, more padding, or fewer layers that "
                          "shrink the image")
        return (size[0], size[1], p["filters"]), None
    if kind == "reshape":
        target = tuple(p["shape"])
        if len(target) not in (1, 3) or any(not isinstance(v, int) or v < 1 for v in target):
            return None, ("Reshape needs a shape [n] or [height, width, channels] of positive "
                          f"whole numbers, got {format_shape(target)}")
        if not can_reshape(shape, target):
            return None, (f"Reshape: {format_shape(shape)} holds {math.prod(shape)} values, "
                          f"{format_shape(target)} needs {math.prod(target)}")
        return target, None
    if kind == "flatten":
        return (math.prod(shape),), None
    if kind == "dropout":
        if not 0 <= p["rate"] < 1:
            return None, f"Dropout: the rate is a share of units in [0, 1), got {p['rate']}"
        return shape, None
    if kind == "softmax":
        if shape != (2,):
            return None, (f"{label} turns two scores into P(fake) and P(real), so it needs "
                          f"[2]; it gets {format_shape(shape)}: put a Fully connected 2 "
                          "layer before it")
        return shape, None
    return shape, None  # batch norm and activations keep the shape


def infer_shapes(spec: ModelSpec) -> ShapeReport:
    """Each layer's output shape, and the first place the model breaks (with a message)."""
    shape: Shape = spec.input_shape
    shapes: List[Optional[Shape]] = []
    for index, layer in enumerate(spec.layers):
        if spec.role not in LAYER_KINDS[layer.kind].roles:
            error = f"{layer.label} is for the discriminator's output; the generator draws images"
        else:
            output, error = _layer_output(layer, shape)
        if error is not None:
            shapes.extend([None] * (len(spec.layers) - index))
            return ShapeReport(spec.input_shape, shapes, error, index)
        shapes.append(output)
        shape = output
    end = len(spec.layers)
    kinds = [layer.kind for layer in spec.layers]
    if spec.role == "generator" and shape != spec.image_shape:
        hint = (f": add a Reshape {format_shape(spec.image_shape)}" if len(shape) == 1
                and math.prod(shape) == math.prod(spec.image_shape) else "")
        return ShapeReport(spec.input_shape, shapes,
                           f"G must end with the image shape {format_shape(spec.image_shape)}; "
                           f"it ends with {format_shape(shape)}{hint}", end)
    if spec.role == "discriminator":
        last = kinds[-1] if kinds else None
        if not ((shape == (1,) and last == "sigmoid") or (shape == (2,) and last == "softmax")):
            return ShapeReport(spec.input_shape, shapes,
                               "D must end with one probability that the image is real: "
                               "Fully connected 1 then Sigmoid, or Fully connected 2 then "
                               f"Softmax (fake, real); it ends with {format_shape(shape)}"
                               + (f" after {spec.layers[-1].label}" if spec.layers else ""), end)
    return ShapeReport(spec.input_shape, shapes)


# --------------------------------------------------------------------------- presets

#: The two models the Playground starts from; "Convolutional" is its default.
PRESETS = ("Convolutional", "Fully connected")


def preset(name: str, role: str, image_shape: Sequence[int] = (28, 28, 1),
           latent_dim: int = 100) -> ModelSpec:
    """A preset model for images of ``image_shape`` ``[height, width, channels]``.

    "Fully connected", as the Playground has it for MNIST: G: noise [100] (uniform) ->
    FC 256 + ReLU -> FC 784 -> Tanh -> Reshape [28, 28, 1]; D: Flatten [28, 28, 1] ->
    [784] -> FC 128 + ReLU -> FC 2 -> Softmax (fake, real).
    "Convolutional": G: FC to [7, 7, 64] -> two stride-2 deconvolutions -> Tanh;
    D: two stride-2 convolutions -> Flatten -> FC 1 -> Sigmoid (a quarter of the
    image side at the bottleneck, so CIFAR's [32, 32, 3] works too).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    image_shape = tuple(int(size) for size in image_shape)
    height, width, channels = image_shape
    values = height * width * channels
    if name == "Fully connected":
        layers = ([Layer("fc", units=256), Layer("relu"), Layer("fc", units=values), Layer("tanh"),
                   Layer("reshape", shape=list(image_shape))] if role == "generator" else
                  [Layer("flatten"), Layer("fc", units=128), Layer("relu"), Layer("fc", units=2),
                   Layer("softmax")])
    else:
        if height % 4 or width % 4:
            raise ValueError(f"the convolutional preset needs sides that are multiples of 4, "
                             f"got {format_shape(image_shape)}")
        seed = [height // 4, width // 4, 64]
        layers = ([Layer("fc", units=math.prod(seed)), Layer("relu"), Layer("reshape", shape=seed),
                   Layer("deconv", filters=32, kernel=4, stride=2, padding=1), Layer("relu"),
                   Layer("deconv", filters=channels, kernel=4, stride=2, padding=1), Layer("tanh")]
                  if role == "generator" else
                  [Layer("conv", filters=32, kernel=4, stride=2, padding=1),
                   Layer("leakyrelu", slope=0.2),
                   Layer("conv", filters=64, kernel=4, stride=2, padding=1),
                   Layer("leakyrelu", slope=0.2), Layer("flatten"), Layer("fc", units=1),
                   Layer("sigmoid")])
    return ModelSpec(role, layers, image_shape, latent_dim)


# --------------------------------------------------------------------------- torch

@lru_cache(maxsize=1)
def _torch_layers():
    import torch
    from torch import nn

    class RealProbability(nn.Module):
        """The (fake, real) softmax of D's last two scores, kept as P(real) ``(B, 1)``."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(x, dim=1)[:, 1:2]

    return RealProbability


def __getattr__(name: str):
    if name == "RealProbability":
        return _torch_layers()
    raise AttributeError(name)


def build_module(spec: ModelSpec):
    """A ``torch.nn.Sequential`` for a valid ``spec``; raises ``ValueError`` with the
    shape error otherwise. A generator gets ``latent_dim`` and ``noise`` attributes.
    A discriminator ending in Softmax (fake, real) outputs P(real) ``(B, 1)``."""
    from torch import nn

    from .models import Reshape

    report = infer_shapes(spec)
    if not report.valid:
        where = (f"layer {report.error_at + 1}" if report.error_at is not None
                 and report.error_at < len(spec.layers) else "the output")
        raise ValueError(f"the {spec.role} cannot be built ({where}): {report.error}")
    modules = []
    shape = spec.input_shape
    for layer, output in zip(spec.layers, report.shapes):
        p = layer.params
        if layer.kind == "fc":
            modules.append(nn.Linear(shape[0], p["units"]))
        elif layer.kind == "conv":
            modules.append(nn.Conv2d(shape[2], p["filters"], p["kernel"], p["stride"], p["padding"]))
        elif layer.kind == "deconv":
            modules.append(nn.ConvTranspose2d(shape[2], p["filters"], p["kernel"], p["stride"],
                                              p["padding"]))
        elif layer.kind == "reshape":
            # [h, w, c] as the Playground writes it is (c, h, w) in PyTorch's layout
            target = output if len(output) == 1 else (output[2], output[0], output[1])
            modules.append(Reshape(*target))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "batchnorm":
            modules.append(nn.BatchNorm1d(shape[0]) if len(shape) == 1 else nn.BatchNorm2d(shape[2]))
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(p["rate"]))
        elif layer.kind == "relu":
            modules.append(nn.ReLU())
        elif layer.kind == "leakyrelu":
            modules.append(nn.LeakyReLU(p["slope"]))
        elif layer.kind == "tanh":
            modules.append(nn.Tanh())
        elif layer.kind == "sigmoid":
            modules.append(nn.Sigmoid())
        elif layer.kind == "softmax":
            modules.append(_torch_layers()())
        shape = output
    module = nn.Sequential(*modules)
    if spec.role == "generator":
        module.latent_dim = spec.latent_dim
        module.noise = spec.noise
    return module
