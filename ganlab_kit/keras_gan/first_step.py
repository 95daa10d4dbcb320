"""A model's first ``train_on_batch`` traced once instead of twice (Keras 3, TensorFlow backend).

Keras 3 on TensorFlow builds a compiled model's metrics, its loss trackers and its
optimizer's slots *inside* the first traced train step. Variables created while tracing
make TensorFlow trace the step a second time (and lift each new variable out of the graph
behind a ``cond``), so the first ``train_on_batch`` of a new model costs two traces. The
graders train many new small models (a check per behaviour), and these traces were most of
a Keras lab's grading time.

:func:`prepare_first_step` builds those variables eagerly, right before the first call,
as the traced step would: the compiled metrics and loss from the call's shapes (what Keras
itself does first under a distribution strategy, ``Trainer._symbolic_build``), and the
optimizer from the model's trainable weights *at that moment* (what the traced step builds it
with). A model whose weights are all frozen at its first step is left alone: its traced step
skips the optimizer, and a later trace would build it there, which must stay as it is. The
step that follows is the same graph on the same values: losses, metrics, errors and weights
come out bit for bit as without it (``tests/test_lab_keras_gan.py::
test_prepared_first_step_trains_bit_for_bit``), in about half the time. It does nothing when
the model has already traced its train step, is not built, has no compiled loss, runs eagerly
or under a distribution strategy, or gets anything but NumPy arrays.
"""
from __future__ import annotations

import sys
from typing import Any

__all__ = ["prepare_first_step", "train_on_batch", "eager"]


def _is_array(value: Any) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray) and value.dtype.kind in "fiub"


def prepare_first_step(model: Any, x: Any, y: Any = None, sample_weight: Any = None) -> bool:
    """Build ``model``'s metric, loss and optimizer variables before its first traced train step.

    Returns whether it built anything. Never raises: when anything is unusual it leaves the
    model alone and Keras builds in the trace as always.
    """
    try:
        return _prepare(model, x, y, sample_weight)
    except Exception:  # noqa: BLE001 - the real call builds (and reports) as it always does
        return False


def _prepare(model: Any, x: Any, y: Any, sample_weight: Any) -> bool:
    keras = sys.modules.get("keras")  # a Keras model was made, so Keras is loaded; never load it here
    if keras is None or keras.backend.backend() != "tensorflow" or not isinstance(model, keras.Model):
        return False
    from keras.src import backend

    if (getattr(model, "train_function", True) is not None or not getattr(model, "compiled", False)
            or getattr(model, "_distribute_strategy", True) is not None or model.run_eagerly
            or getattr(model, "_compile_loss", None) is None):
        return False
    if not (_is_array(x) and (y is None or _is_array(y))
            and (sample_weight is None or _is_array(sample_weight))):
        return False
    if not all(layer.built for layer in model._flatten_layers()):
        return False  # building the layers here could draw their initial weights differently
    metrics, loss, optimizer = model._compile_metrics, model._compile_loss, model.optimizer
    metrics_unbuilt = metrics is not None and not metrics.built
    loss_unbuilt = not loss.built
    optimizer_unbuilt = optimizer is not None and not optimizer.built
    if optimizer_unbuilt and not model.trainable_weights:
        # Everything frozen: the traced step skips the optimizer (Trainer.train_step) and a later
        # trace with trainable weights would build it there; leave that path exactly as it is.
        return False
    if not (metrics_unbuilt or loss_unbuilt or optimizer_unbuilt):
        return False

    def symbolic(value: Any) -> Any:
        return None if value is None else backend.KerasTensor(value.shape, backend.standardize_dtype(value.dtype))

    x_spec, y_spec, weight_spec = symbolic(x), symbolic(y), symbolic(sample_weight)
    if metrics_unbuilt or loss_unbuilt:
        y_pred = backend.compute_output_spec(model, x_spec, training=False)
        if metrics_unbuilt:
            backend.compute_output_spec(model.compute_metrics, x_spec, y_spec, y_pred, sample_weight=weight_spec)
        if loss_unbuilt:
            backend.compute_output_spec(model._compute_loss, x_spec, y_spec, y_pred, sample_weight=weight_spec,
                                        training=False)
    if optimizer_unbuilt:
        variables = list(model.trainable_weights)
        with backend.name_scope(optimizer.name, caller=optimizer):
            optimizer.build(variables)
        optimizer.built = True
    return True


def train_on_batch(model: Any, x: Any, y: Any = None, **kwargs: Any) -> Any:
    """``model.train_on_batch(x, y, **kwargs)``, its first call prepared (:func:`prepare_first_step`)."""
    prepare_first_step(model, x, y, kwargs.get("sample_weight"))
    return model.train_on_batch(x, y, **kwargs)


def eager(model: Any) -> Any:
    """``model`` (a Keras model a hidden check made, or got fresh from a student's function; in
    the checks usually a proxy of one in the notebook's process) runs its predict and train steps
    eagerly from now on: Keras's own ``predict_step`` / ``train_step``, op by op, without tracing a
    graph first. A new model's first traced train step costs about 0.25-0.5 s on 2 cores, an eager
    one a few tens of milliseconds; a traced step is cheaper from about the tenth call on, so this
    is for a few steps. Only where the answer cannot depend on tracing: the check never changes a
    ``trainable`` flag between the model's first step and the step it asks about (a traced step
    reads the flag when it is traced, an eager one at each call; here both read the same value).
    A model the student's code compiles again afterwards is traced as before (compile resets
    ``run_eagerly``). Nothing here imports Keras: the checker's side only sets an attribute.
    Used by the hidden checks of both Keras labs (``autograder/keras_gan``, ``autograder/failure_modes``)."""
    model.run_eagerly = True
    return model
