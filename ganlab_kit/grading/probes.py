"""Observation helpers that hidden checks run next to the student's objects.

Checks reach the notebook through :mod:`.remote`; some questions can only be asked
where the objects live (which layers a module holds, what shapes a forward pass saw,
what a patched function returned, the gradient of a loss). The checks call these
through ``nb.new("ganlab_kit.grading.probes:NAME", ...)``. They only observe and
report plain data; what is right or wrong is decided by the checks, in their own
process. Nothing here knows an expected value.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["describe_layer", "leaf_layers", "forward_layers", "forward_calls", "InputShapes", "CallRecorder",
           "FixedNoise", "gradient_sums", "fill_gradients", "gradients", "parameters", "state", "run_twice",
           "KerasTrainingRecorder", "keras_weights", "keras_layers", "ArgumentRecorder"]

_FIELDS = ("in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride",
           "padding", "output_padding", "dilation", "groups", "negative_slope", "p", "inplace",
           "num_features", "eps", "momentum", "affine", "start_dim", "end_dim", "dim", "training",
           "scale_factor", "mode", "size", "min_val", "max_val")


def describe_layer(layer: Any) -> Dict[str, Any]:
    """``{"type": "Linear", "qualname": "torch.nn.modules.linear.Linear", ...fields}``."""
    kind = type(layer)
    described: Dict[str, Any] = {"type": kind.__name__, "qualname": f"{kind.__module__}.{kind.__qualname__}",
                                 "bases": [f"{base.__module__}.{base.__qualname__}" for base in kind.__mro__[1:]]}
    for name in _FIELDS:
        value = getattr(layer, name, None)
        if isinstance(value, (bool, int, float, str)) or value is None:
            if value is not None:
                described[name] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
            described[name] = tuple(value)
    weight = getattr(layer, "weight", None)
    if weight is not None and hasattr(weight, "shape"):
        described["weight_shape"] = tuple(int(n) for n in weight.shape)
    return described


def leaf_layers(module: Any) -> List[Dict[str, Any]]:
    """The module's leaf layers (no children) in registration order, described."""
    return [describe_layer(layer) for layer in module.modules() if not list(layer.children())]


def forward_layers(module: Any, *inputs: Any) -> List[Dict[str, Any]]:
    """Leaf layers in the order one forward pass on ``inputs`` ran them, each with the
    shape of its output (``"output_shape"``)."""
    import torch

    seen: List[Dict[str, Any]] = []
    hooks = []
    for layer in module.modules():
        if list(layer.children()):
            continue

        def record(layer_: Any, args: Any, output: Any) -> None:
            entry = describe_layer(layer_)
            if isinstance(output, torch.Tensor):
                entry["output_shape"] = tuple(int(n) for n in output.shape)
            seen.append(entry)

        hooks.append(layer.register_forward_hook(record))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


#: The operations :func:`forward_calls` reports (a layer such as nn.LeakyReLU calls the same
#: function as F.leaky_relu; ``x.tanh()``, ``torch.tanh`` and nn.Tanh all report "tanh").
_OPERATIONS = {"linear", "bilinear", "conv1d", "conv2d", "conv_transpose2d", "batch_norm", "layer_norm",
               "dropout", "relu", "relu_", "leaky_relu", "leaky_relu_", "elu", "selu", "gelu", "silu",
               "tanh", "tanh_", "sigmoid", "sigmoid_", "hardtanh", "softmax", "log_softmax", "softplus"}


def forward_calls(module: Any, *inputs: Any) -> List[Dict[str, Any]]:
    """The layer operations one forward pass of ``module`` on ``inputs`` ran, in order, whether
    the student wrote them as layers (``nn.LeakyReLU(0.2)``) or as functions in ``forward``
    (``F.leaky_relu(x, 0.2)``, ``torch.tanh(x)``, ``x.sigmoid()``): ``{"op": "linear",
    "in_features": 100, "out_features": 256, "output_shape": (2, 256)}``, ``{"op":
    "leaky_relu", "negative_slope": 0.2, ...}``, ``{"op": "dropout", "p": 0.3, "training":
    True}``, ... (in-place variants reported without the trailing underscore)."""
    import torch
    from torch.overrides import TorchFunctionMode

    seen: List[Dict[str, Any]] = []

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            output = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            if name in _OPERATIONS:
                entry: Dict[str, Any] = {"op": name.rstrip("_")}
                if name == "linear":
                    weight = args[1] if len(args) > 1 else kwargs.get("weight")
                    entry.update(in_features=int(weight.shape[1]), out_features=int(weight.shape[0]))
                elif name.startswith("leaky_relu"):
                    slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
                    entry["negative_slope"] = float(slope)
                elif name == "dropout":
                    entry["p"] = float(args[1] if len(args) > 1 else kwargs.get("p", 0.5))
                    entry["training"] = bool(args[2] if len(args) > 2 else kwargs.get("training", True))
                if isinstance(output, torch.Tensor):
                    entry["output_shape"] = tuple(int(n) for n in output.shape)
                seen.append(entry)
            return output

    with torch.no_grad(), Recorder():
        module(*inputs)
    return seen


class InputShapes:
    """Records the shape of the first input of every forward call of ``module``."""

    def __init__(self, module: Any) -> None:
        self.shapes: List[tuple] = []
        self._hook = module.register_forward_hook(
            lambda layer, args, output: self.shapes.append(
                tuple(int(n) for n in args[0].shape) if args and hasattr(args[0], "shape") else ()))

    def remove(self) -> None:
        self._hook.remove()


class CallRecorder:
    """Wraps ``function``; remembers what each call returned (``.returned``)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.returned: List[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self.function(*args, **kwargs)
        self.returned.append(value.detach().clone() if hasattr(value, "detach") else value)
        return value


class FixedNoise:
    """A ``sample_noise(batch_size, latent_dim=100)`` that returns slices of one fixed tensor."""

    def __init__(self, noise: Any) -> None:
        self.noise = noise

    def __call__(self, batch_size: int, latent_dim: int = 100) -> Any:
        return self.noise[:batch_size, :latent_dim].clone()


def gradient_sums(module: Any) -> List[Optional[float]]:
    """For each parameter: the sum of its gradient's absolute values, None without one."""
    return [None if parameter.grad is None else float(parameter.grad.abs().sum())
            for parameter in module.parameters()]


def fill_gradients(module: Any, value: float) -> None:
    """Set every parameter's ``.grad`` to ``value`` (stale gradients for a zero_grad check)."""
    import torch

    for parameter in module.parameters():
        parameter.grad = torch.full_like(parameter, float(value))


def gradients(function: Callable[..., Any], *inputs: Any) -> Dict[str, Any]:
    """Call ``function(*inputs)`` with gradients on the floating-point tensor inputs and
    backpropagate its result (summed). Reports the result and each input's gradient."""
    import torch

    leaves = [x.detach().clone().requires_grad_(True) if isinstance(x, torch.Tensor) and x.is_floating_point()
              else x for x in inputs]
    result = function(*leaves)
    report: Dict[str, Any] = {"is_tensor": isinstance(result, torch.Tensor), "value": None,
                              "shape": None, "requires_grad": False, "grads": []}
    if isinstance(result, torch.Tensor):
        report.update(value=result.detach().clone(), shape=tuple(result.shape),
                      requires_grad=bool(result.requires_grad))
        if result.requires_grad:
            result.sum().backward()
    else:
        report["value"] = result
    report["grads"] = [x.grad.detach().clone() if isinstance(x, torch.Tensor) and x.grad is not None else None
                       for x in leaves]
    return report


def parameters(module: Any) -> List[Any]:
    """Copies of the module's parameters, in order."""
    return [parameter.detach().clone() for parameter in module.parameters()]


def state(optimizer: Any) -> List[Dict[str, Any]]:
    """An optimizer's parameter groups without the parameters themselves: settings only."""
    return [{key: value for key, value in group.items() if key != "params"} | {"count": len(group["params"])}
            for group in optimizer.param_groups]


def run_twice(module: Any, inputs: Any, train: Optional[bool] = None) -> Sequence[Any]:
    """Two forward passes of ``module`` on the same ``inputs`` (in train or eval mode)."""
    import torch

    if train is not None:
        module.train(bool(train))
    with torch.no_grad():
        return module(inputs), module(inputs)


# --------------------------------------------------------------------------- Keras (failure_modes lab)
class KerasTrainingRecorder:
    """Records every ``train_on_batch`` call of some Keras models, in call order.

    ``watched``: name -> model whose ``train_on_batch`` is recorded (e.g. the combined
    model and the discriminator). ``tracked``: name -> model whose weights are compared
    before and after each recorded call. Each entry of :attr:`calls` is plain data:
    ``{"model": name, "inputs": first input array, "targets": target array,
    "changed": {tracked name: bool}, "trainable": {tracked name: trainable flag},
    "result": what the call returned, as a flat list of floats (``[loss, metric, ...]``)}``.
    :meth:`remove` restores the original methods.
    """

    def __init__(self, watched: Dict[str, Any], tracked: Dict[str, Any]) -> None:
        self.calls: List[Dict[str, Any]] = []
        self._watched = dict(watched)
        self._tracked = dict(tracked)
        for name, model in self._watched.items():
            model.train_on_batch = self._recording(name, model.train_on_batch)

    def _weights(self) -> Dict[str, List[Any]]:
        import numpy

        return {name: [numpy.array(weight) for weight in model.weights]
                for name, model in self._tracked.items()}

    def _recording(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        import numpy

        def train_on_batch(x: Any, y: Any = None, *args: Any, **kwargs: Any) -> Any:
            flags = {key: bool(model.trainable) for key, model in self._tracked.items()}
            before = self._weights()
            if "class_weight" not in kwargs and len(args) <= 1:
                # the model's first step traced once, not twice: same step, same numbers (Keras lab grading time)
                from ..keras_gan.first_step import prepare_first_step

                prepare_first_step(self._watched[name], x, y, args[0] if args else kwargs.get("sample_weight"))
            result = original(x, y, *args, **kwargs)
            after = self._weights()
            first = x[0] if isinstance(x, (list, tuple)) else x
            self.calls.append({
                "model": name,
                "inputs": numpy.array(first, dtype=numpy.float32),
                "targets": None if y is None else numpy.array(y, dtype=numpy.float32),
                "changed": {key: any(not numpy.array_equal(old, new) for old, new in zip(before[key], after[key]))
                            for key in before},
                "trainable": flags,
                "result": _flat_floats(result),
            })
            return result

        return train_on_batch

    def remove(self) -> None:
        for model in self._watched.values():
            try:
                del model.train_on_batch
            except AttributeError:
                pass


def _flat_floats(value: Any) -> List[float]:
    """A train_on_batch answer (a number, a list of numbers or a dict of them) as a flat list of floats."""
    import numpy

    if isinstance(value, dict):
        value = list(value.values())
    try:
        return [float(number) for number in numpy.asarray(value, dtype=numpy.float64).reshape(-1)]
    except (TypeError, ValueError):
        return []


def keras_weights(model: Any) -> List[Any]:
    """Copies of a Keras model's weights, in order (NumPy arrays)."""
    import numpy

    return [numpy.array(weight) for weight in model.weights]


# --------------------------------------------------------------------------- Keras (keras_gan lab)
_KERAS_FIELDS = ("units", "activation", "negative_slope", "rate", "use_bias", "target_shape")


def keras_layers(model: Any) -> List[Dict[str, Any]]:
    """A Keras model's layers in order, nested models flattened, each described as plain
    data: ``{"type": "Dense", "qualname": ..., "name": ..., "trainable": ..., "units": 300,
    "activation": "linear", ...}`` (the fields of ``get_config()`` that describe an MLP)."""
    described: List[Dict[str, Any]] = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers"):  # a model used as a layer (the stacked GAN holds two)
            described.extend(keras_layers(layer))
            continue
        kind = type(layer)
        entry: Dict[str, Any] = {"type": kind.__name__, "qualname": f"{kind.__module__}.{kind.__qualname__}",
                                 "name": str(layer.name), "trainable": bool(layer.trainable)}
        try:
            config = layer.get_config()
        except Exception:  # a custom layer without a config: its type is still known
            config = {}
        for field in _KERAS_FIELDS:
            value = config.get(field)
            if isinstance(value, (bool, int, float, str)):
                entry[field] = value
            elif isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
                entry[field] = tuple(value)
            elif isinstance(value, dict) and field == "activation":  # a serialised activation
                entry[field] = str(value.get("config", value.get("class_name", "")))
        described.append(entry)
    return described


class ArgumentRecorder:
    """A stand-in for a function (patched in with ``nb.patched``) that only remembers its
    calls: :attr:`calls` holds ``{"args": [...], "kwargs": {...}}`` per call, arrays and
    tensors as NumPy copies, strings and numbers as they are, other objects by type name."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []

    @staticmethod
    def _plain(value: Any) -> Any:
        import numpy

        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if hasattr(value, "__fspath__"):
            return str(value.__fspath__())
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            try:
                return numpy.array(value, dtype=numpy.float32)
            except (TypeError, ValueError):
                pass
        return f"<{type(value).__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append({"args": [self._plain(value) for value in args],
                           "kwargs": {str(key): self._plain(value) for key, value in kwargs.items()}})
