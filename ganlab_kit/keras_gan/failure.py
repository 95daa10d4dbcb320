"""Failure modes of GAN training in Keras 3: the runs, the measurements and the detectors.

The failure-modes lab (``assignments/source/failure_modes``) trains the seed lab's GAN
three times: a healthy run, a run where the discriminator overpowers the generator,
and a run that collapses. This module holds what the lab's notebook, its hidden
checks and its calibration share:

* :class:`RunConfig` and :data:`PRESETS`: the three runs' settings;
* reference pieces of the lab (:func:`pretrain_discriminator`,
  :func:`build_combined_model`, :func:`training_turn`), in the seed's order:
  G through the combined model with D frozen, then D on as many real images;
* :func:`run_experiment`: pre-training plus training turns, recording D's accuracy,
  both losses, G's gradient norm and sample snapshots; it takes the student's own
  functions in place of the reference ones;
* the reference detectors :func:`discriminator_overpowers` and :func:`mode_collapsed`
  with their documented thresholds, and :func:`kit_alarms`, the dashboard's alarms
  replayed on a finished run;
* :func:`save_run` / :func:`load_run`: a run as JSON plus a ``.npy`` of samples,
  read back with safe loaders only.

Images are channels-last ``(N, 28, 28, 1)`` in [-1, 1], as in the rest of the Keras track.
TensorFlow is imported by the functions that train or classify, not by this module.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import data as _data
from ..scoring import keras_classifier as _keras_classifier
from ._backend import require_tensorflow_backend

# Keras (and TensorFlow) load only when a function that trains or classifies is called:
# the detectors, the run files and the kit's alarms work without them (the hidden
# checks use those in a process that never imports TensorFlow). The digits and the
# classifier's reader (torch, no Keras) load with this module: the lab's setup cell
# imports it, so a grading kernel prestarted with the setup's imports already has torch
# (issue 24: its import was ~2 s of each submission's first cell).

__all__ = [
    "RunConfig", "PRESETS", "RUN_NAMES", "OVERPOWER_ACCURACY", "OVERPOWER_WINDOW",
    "COLLAPSE_MIN_SHARE", "COLLAPSE_MAX_CLASSES", "seed_everything", "build_networks",
    "accuracy", "compile_discriminator", "discriminator_accuracy", "pretrain_discriminator",
    "build_combined_model", "training_turn", "check_turn", "generator_gradient_norms", "classify_digits",
    "run_experiment", "discriminator_overpowers", "mode_collapsed", "classes_covered",
    "kit_alarms", "save_run", "load_run", "run_files", "training_images", "grading",
    "train_or_load", "plot_run",
]

#: The three runs of the lab, in the order the notebook trains them.
RUN_NAMES = ("healthy", "overpowered", "collapsed")

#: D overpowers G when its mean accuracy over the last OVERPOWER_WINDOW turns is at least this.
OVERPOWER_ACCURACY = 0.95
OVERPOWER_WINDOW = 100
#: A digit counts as produced when at least this share of the samples shows it ...
COLLAPSE_MIN_SHARE = 0.05
#: ... and a sample set has collapsed when at most this many digits are produced.
COLLAPSE_MAX_CLASSES = 3


@dataclass(frozen=True)
class RunConfig:
    """Settings of one training run (the knobs the lab turns)."""

    latent_dim: int = 32  # size of the noise vector z
    generator_hidden: Tuple[int, ...] = (128, 256)  # widths of G's hidden Dense layers; () = linear G
    discriminator_hidden: Tuple[int, ...] = (256, 128)  # widths of D's hidden Dense layers
    dropout: float = 0.3  # dropout after each of D's hidden layers
    g_lr: float = 1e-3  # Adam learning rate of the combined model (trains G)
    d_lr: float = 1e-3  # Adam learning rate of D
    beta_1: float = 0.5  # Adam beta_1 of both
    pretrain_steps: int = 20  # D updates before the first turn
    steps: int = 1200  # training turns
    batch_size: int = 64  # real images per turn (and as many fakes)
    generator_turns: int = 1  # G updates through the combined model per turn
    noise_scale: float = 1.0  # standard deviation of the noise z
    freeze_discriminator_at: int = 0  # from this turn on D stops learning (its learning rate is 0); 0: never
    digits: Optional[Tuple[int, ...]] = None  # train on these digits only (None: all ten)
    grad_every: int = 10  # measure G's gradient norm every this many turns
    snapshots: int = 5  # sample snapshots: after pre-training and evenly through the run
    samples: int = 100  # samples per snapshot, from fixed noise

    def to_dict(self) -> Dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RunConfig":
        known = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        for name in ("generator_hidden", "discriminator_hidden", "digits"):
            if known.get(name) is not None:
                known[name] = tuple(int(value) for value in known[name])
        return cls(**known)


#: The reference settings of the three runs (the lab notebook's solution uses exactly these).
#: Calibrated on five seeds: autograder/failure_modes/calibration.json.
PRESETS: Dict[str, RunConfig] = {
    "healthy": RunConfig(),
    # a generator too simple for digits (one linear layer on 8 noise values, learning
    # slowly) against a discriminator pre-trained for 500 steps
    "overpowered": RunConfig(generator_hidden=(), latent_dim=8, pretrain_steps=500, g_lr=2e-4,
                             steps=1000),
    # D stops learning halfway: G keeps chasing one fixed judge and settles on what fools it
    "collapsed": RunConfig(freeze_discriminator_at=500, steps=1000),
}


# ---------------------------------------------------------------------- building blocks
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras (``keras.utils.set_random_seed``)."""
    keras = require_tensorflow_backend()
    keras.utils.set_random_seed(int(seed))


def build_networks(config: RunConfig) -> Tuple["keras.Model", "keras.Model"]:
    """``(generator, discriminator)`` for ``config``: the kit's MLP builders."""
    keras = require_tensorflow_backend()
    from .models import build_discriminator, build_generator

    layers = keras.layers
    if config.generator_hidden:
        generator = build_generator(config.latent_dim, hidden=config.generator_hidden)
    else:  # too simple on purpose: z -> one Dense layer -> image
        generator = keras.Sequential([keras.Input((config.latent_dim,)),
                                      layers.Dense(28 * 28, activation="tanh"),
                                      layers.Reshape((28, 28, 1))], name="generator")
    discriminator = build_discriminator(hidden=config.discriminator_hidden, dropout=config.dropout)
    return generator, discriminator


def accuracy(y_true: Any, y_pred: Any) -> Any:
    """D's accuracy against hard labels: D(x) > 0.5 is "real", a target above 0.5 is a real image.

    Keras's own ``"accuracy"`` compares ``D(x) > 0.5`` with the target *itself*, so with
    smoothed targets (0.9 for real images) no real image ever counts as right and the
    accuracy is capped at 0.5. This one thresholds the target too: it survives label
    smoothing, and equals Keras's accuracy for targets 0 and 1.
    """
    ops = require_tensorflow_backend().ops
    return ops.mean(ops.cast(ops.equal(y_true > 0.5, y_pred > 0.5), "float32"), axis=-1)


def compile_discriminator(discriminator: "keras.Model", learning_rate: float = 2e-4,
                          beta_1: float = 0.5) -> "keras.Model":
    """Compile D for ``train_on_batch``: Adam, binary cross-entropy, and :func:`accuracy`
    (against hard labels, so that it survives label smoothing): ``[loss, accuracy]``."""
    keras = require_tensorflow_backend()
    discriminator.trainable = True
    discriminator.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                          loss="binary_crossentropy", metrics=[accuracy])
    return discriminator


def discriminator_accuracy(discriminator: "keras.Model", real_images: np.ndarray,
                           fake_images: np.ndarray) -> float:
    """Share of ``real_images`` D calls real (D(x) > 0.5) and of ``fake_images`` it calls fake.

    Computed in inference mode (no dropout), on both sets together, in [0, 1].
    """
    real = np.asarray(discriminator(np.asarray(real_images, np.float32), training=False))
    fake = np.asarray(discriminator(np.asarray(fake_images, np.float32), training=False))
    right = np.concatenate([real.reshape(-1) > 0.5, fake.reshape(-1) <= 0.5])
    return float(right.mean())


def _noise(rng: np.random.Generator, count: int, latent_dim: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal((count, latent_dim))).astype(np.float32)


def pretrain_discriminator(generator: "keras.Model", discriminator: "keras.Model",
                           real_images: np.ndarray, steps: int, batch_size: int = 64,
                           seed: int = 0) -> Tuple[float, float]:
    """Train D alone for ``steps`` updates on real digits (target 1) vs G's output (target 0).

    G is not trained. Returns D's accuracy on one fixed batch (``batch_size`` real images
    and as many fakes) before and after.
    """
    rng = np.random.default_rng(seed)
    latent_dim = int(generator.input_shape[-1])
    fixed_real = real_images[rng.choice(len(real_images), batch_size, replace=False)]
    fixed_fake = generator.predict_on_batch(_noise(rng, batch_size, latent_dim))
    before = discriminator_accuracy(discriminator, fixed_real, fixed_fake)
    targets = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]).astype(np.float32)
    discriminator.trainable = True
    for _ in range(int(steps)):
        real = real_images[rng.choice(len(real_images), batch_size, replace=False)]
        fake = generator.predict_on_batch(_noise(rng, batch_size, latent_dim))
        discriminator.train_on_batch(np.concatenate([real, fake]), targets)
    after = discriminator_accuracy(discriminator, fixed_real, fixed_fake)
    return before, after


def build_combined_model(generator: "keras.Model", discriminator: "keras.Model",
                         learning_rate: float = 2e-4, beta_1: float = 0.5) -> "keras.Model":
    """D(G(z)) as one compiled model: noise ``(B, latent_dim)`` -> ``(B, 1)``.

    Training it with target 1 ("real") trains G to fool D. It must not train D: the
    turn sets ``discriminator.trainable = False`` right before the combined model's
    ``train_on_batch`` (Keras 3 reads the flag when it first traces the train step).
    """
    keras = require_tensorflow_backend()
    noise = keras.Input(shape=(int(generator.input_shape[-1]),))             # (B, latent_dim)
    combined = keras.Model(noise, discriminator(generator(noise)), name="combined")  # (B, 1)
    combined.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                     loss="binary_crossentropy")
    return combined


def training_turn(generator: "keras.Model", discriminator: "keras.Model",
                  combined: "keras.Model", real_images: np.ndarray,
                  noise: np.ndarray) -> Dict[str, float]:
    """One turn in the seed lab's order; returns ``{"g_loss", "d_loss", "d_acc"}``.

    1. G: the combined model on ``noise`` with target 1, D frozen.
    2. D: ``len(real_images)`` real images (target 1) and as many of G's fakes (target 0).
    ``d_acc`` is Keras's accuracy on D's batch (before its update).
    """
    batch = len(real_images)
    discriminator.trainable = False
    g_loss = combined.train_on_batch(noise, np.ones((len(noise), 1), np.float32))
    discriminator.trainable = True
    fake_images = generator.predict_on_batch(noise[:batch])
    images = np.concatenate([real_images, fake_images])                       # (2B, 28, 28, 1)
    labels = np.concatenate([np.ones((batch, 1)), np.zeros((batch, 1))]).astype(np.float32)
    d_loss, d_acc = discriminator.train_on_batch(images, labels)
    return {"g_loss": float(np.ravel(g_loss)[0]), "d_loss": float(d_loss), "d_acc": float(d_acc)}


def check_turn(turn: TurnFunction, generator: "keras.Model", discriminator: "keras.Model",
               combined: "keras.Model", real_images: np.ndarray, noise: np.ndarray) -> Dict[str, float]:
    """The turn quick check of the notebook: run ``turn`` once and say what it did wrong.

    Records the ``train_on_batch`` calls of ``combined`` and ``discriminator`` (order, targets,
    whose weights changed, what they returned) and raises ``AssertionError`` naming the first
    problem: the keys of the answer; one step of G through the combined model and one of D (in
    either order); G's targets 1, D's targets 1 for the real images and 0 for the fakes; D left
    unchanged by G's step, changed by its own; ``d_loss`` and ``d_acc`` as D's ``train_on_batch``
    returned them (``[loss, accuracy]``) and ``g_loss`` as the combined model's. Returns the
    turn's answer with its values as floats.
    """
    from ..grading.probes import KerasTrainingRecorder

    recorder = KerasTrainingRecorder({"combined": combined, "discriminator": discriminator},
                                     {"generator": generator, "discriminator": discriminator})
    try:
        record = turn(generator, discriminator, combined, real_images, noise)
    finally:
        recorder.remove()
    assert isinstance(record, dict) and {"g_loss", "d_loss", "d_acc"} <= set(record), (
        f"training_turn should return a dict with g_loss, d_loss and d_acc, got {record!r}")
    values = {key: float(np.ravel(np.asarray(record[key], dtype=np.float64))[0]) for key in ("g_loss", "d_loss", "d_acc")}
    order = [call["model"] for call in recorder.calls]
    steps_of_d = order.count("discriminator")
    assert order.count("combined") == 1 and 1 <= steps_of_d <= 2 and order in (
            ["combined"] + ["discriminator"] * steps_of_d, ["discriminator"] * steps_of_d + ["combined"]), (
        f"the train_on_batch calls of your turn were {order or 'none'}: one step of G through the combined "
        "model and one of D on the real images and the fakes together (G first as in the seed, or D first)")
    g_call = next(call for call in recorder.calls if call["model"] == "combined")
    d_calls = [call for call in recorder.calls if call["model"] == "discriminator"]
    assert g_call["targets"] is not None and np.all(np.asarray(g_call["targets"]) == 1), (
        "train the combined model with target 1 ('real') for every noise vector: G learns to make D call "
        "its fakes real")
    real_rows = {row.tobytes() for row in np.asarray(real_images, np.float32).reshape(len(real_images), -1)}
    for call in d_calls:
        is_real = np.array([row.tobytes() in real_rows for row in call["inputs"].reshape(len(call["inputs"]), -1)])
        targets = np.asarray(call["targets"]).reshape(-1)
        assert targets.size == is_real.size and np.all(targets[is_real] > 0.5) and np.all(targets[~is_real] < 0.5), (
            "D's targets should be 1 for the real images and 0 for the fakes")
    assert g_call["changed"]["generator"], "G's step through the combined model did not change G"
    assert not g_call["changed"]["discriminator"], (
        "G's step through the combined model also changed D: set discriminator.trainable = False right "
        "before combined.train_on_batch")
    assert any(call["changed"]["discriminator"] for call in d_calls), (
        "D's train_on_batch did not change D: set discriminator.trainable = True right before it"
        + (" (it was False: Keras 3 traces D's step again for each new batch size and after a compile, "
           "reading the flag then)" if any(not call["trainable"]["discriminator"] for call in d_calls) else ""))
    answers = [call["result"][:2] for call in d_calls if len(call["result"]) >= 2]
    if answers:
        d_loss, d_acc = np.mean(answers, axis=0)
        assert np.isclose(values["d_loss"], d_loss, rtol=1e-4) and np.isclose(values["d_acc"], d_acc, rtol=1e-4), (
            f"D's train_on_batch returned [loss, accuracy] = [{d_loss:.4f}, {d_acc:.4f}], your turn reported "
            f"d_loss {values['d_loss']:.4f} and d_acc {values['d_acc']:.4f}"
            + (": they are swapped (d_loss, d_acc = discriminator.train_on_batch(...))"
               if np.isclose(values["d_loss"], d_acc, rtol=1e-4) else ""))
    if g_call["result"]:
        assert np.isclose(values["g_loss"], g_call["result"][0], rtol=1e-4), (
            f"the combined model's train_on_batch returned the loss {g_call['result'][0]:.4f}, your turn "
            f"reported g_loss {values['g_loss']:.4f}")
    return values


def generator_gradient_norms(generator: "keras.Model", discriminator: "keras.Model",
                             noise: np.ndarray) -> Tuple[float, float]:
    """L2 norms of the gradients over G's weights of two generator losses, D in inference mode.

    Returns ``(non_saturating, minimax)``: the gradient of -mean log D(G(z)) (what the
    combined model trains G with: target 1) and of mean log(1 - D(G(z))) (the original
    minimax objective, which G minimises). When D rejects every fake, D(G(z)) -> 0 and
    the minimax gradient vanishes while the non-saturating one does not.
    """
    require_tensorflow_backend()
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        scores = discriminator(generator(np.asarray(noise, np.float32), training=True), training=False)
        scores = tf.clip_by_value(scores, 1e-7, 1.0 - 1e-7)                    # (B, 1)
        non_saturating = -tf.reduce_mean(tf.math.log(scores))
        minimax = tf.reduce_mean(tf.math.log(1.0 - scores))
    weights = generator.trainable_weights
    norms = []
    for loss in (non_saturating, minimax):
        gradients = [g for g in tape.gradient(loss, weights) if g is not None]
        norms.append(float(tf.linalg.global_norm(gradients)))
    del tape
    return norms[0], norms[1]


_CLASSIFIER: List[Any] = []


def classify_digits(images: np.ndarray) -> np.ndarray:
    """The kit's MNIST classifier's digit (0-9) for each image ``(N, 28, 28, 1)`` in [-1, 1]."""
    if not _CLASSIFIER:
        import logging

        absl = logging.getLogger("absl")
        level = absl.level
        absl.setLevel(logging.ERROR)  # "compiled metrics have yet to be built": true and harmless here
        try:
            _CLASSIFIER.append(_keras_classifier.load_keras_classifier())
        finally:
            absl.setLevel(level)
    images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
    return np.asarray(_CLASSIFIER[0](images, training=False)).argmax(1)


def training_images(digits: Optional[Sequence[int]] = None) -> np.ndarray:
    """The 4,000 offline training digits (the held-out ones excluded) ``(N, 28, 28, 1)`` float32 in [-1, 1]."""
    data = (_data.load_mnist(digits=list(digits), split="train") if digits
            else _data.load_mnist(split="train"))
    return data.numpy(channels_last=True)


# ---------------------------------------------------------------------- one run
TurnFunction = Callable[..., Dict[str, float]]


def run_experiment(config: RunConfig, seed: int = 0, images: Optional[np.ndarray] = None,
                   pretrain: Callable[..., Tuple[float, float]] = pretrain_discriminator,
                   combine: Callable[..., "keras.Model"] = build_combined_model,
                   turn: TurnFunction = training_turn,
                   progress: Optional[Callable[[int, Dict[str, float]], None]] = None) -> Dict[str, Any]:
    """Build fresh networks, pre-train D, run ``config.steps`` turns; return the run.

    ``pretrain``, ``combine`` and ``turn`` default to the reference pieces; the lab passes
    the student's. The run is a dict: ``config``, ``seed``, ``pretrain`` (D's accuracy
    before/after), per-turn lists ``d_acc``, ``d_loss``, ``g_loss``; ``grad_steps``,
    ``g_grad_norm`` and ``minimax_grad_norm`` (every ``config.grad_every`` turns, see
    :func:`generator_gradient_norms`); ``snapshot_steps``,
    ``class_counts`` (the classifier's digit counts per snapshot), ``samples``
    (``(snapshots, samples, 28, 28, 1)`` float32) and ``seconds``.
    """
    seed_everything(seed)
    started = time.perf_counter()
    images = training_images(config.digits) if images is None else np.asarray(images, np.float32)
    rng = np.random.default_rng(seed)
    generator, discriminator = build_networks(config)
    compile_discriminator(discriminator, config.d_lr, config.beta_1)
    pretrain_accuracy = pretrain(generator, discriminator, images, config.pretrain_steps,
                                 batch_size=config.batch_size, seed=seed)
    combined = combine(generator, discriminator, learning_rate=config.g_lr, beta_1=config.beta_1)
    # the snapshots and the gradient probe use the run's own noise (config.noise_scale), so that
    # a run with tiny noise is judged on what G draws from that noise
    fixed_noise = _noise(np.random.default_rng(10_000 + seed), config.samples, config.latent_dim,
                         config.noise_scale)
    gradient_noise = _noise(np.random.default_rng(20_000 + seed), config.batch_size, config.latent_dim,
                            config.noise_scale)
    every = max(1, config.steps // max(1, config.snapshots - 1))
    run: Dict[str, Any] = {"config": config.to_dict(), "seed": int(seed),
                           "pretrain": {"before": float(pretrain_accuracy[0]),
                                        "after": float(pretrain_accuracy[1])},
                           "d_acc": [], "d_loss": [], "g_loss": [], "grad_steps": [],
                           "g_grad_norm": [], "minimax_grad_norm": [], "snapshot_steps": [], "class_counts": []}
    snapshots: List[np.ndarray] = []

    def snapshot(step: int) -> None:
        samples = np.asarray(generator.predict_on_batch(fixed_noise), np.float32)
        snapshots.append(samples)
        run["snapshot_steps"].append(step)
        run["class_counts"].append(np.bincount(classify_digits(samples), minlength=10).tolist())

    snapshot(0)
    order, position = rng.permutation(len(images)), 0
    for step in range(1, config.steps + 1):
        if position + config.batch_size > len(images):
            order, position = rng.permutation(len(images)), 0
        real = images[order[position:position + config.batch_size]]
        position += config.batch_size
        for extra in range(config.generator_turns - 1):  # extra G updates, D frozen
            discriminator.trainable = False
            combined.train_on_batch(_noise(rng, config.batch_size, config.latent_dim, config.noise_scale),
                                    np.ones((config.batch_size, 1), np.float32))
        if step == config.freeze_discriminator_at:  # D stops learning from here on
            discriminator.optimizer.learning_rate.assign(0.0)
        record = turn(generator, discriminator, combined, real,
                      _noise(rng, config.batch_size, config.latent_dim, config.noise_scale))
        for key in ("d_acc", "d_loss", "g_loss"):
            run[key].append(float(record[key]))
        if step % config.grad_every == 0:
            run["grad_steps"].append(step)
            non_saturating, minimax = generator_gradient_norms(generator, discriminator, gradient_noise)
            run["g_grad_norm"].append(non_saturating)
            run["minimax_grad_norm"].append(minimax)
        if step % every == 0 or step == config.steps:
            if not run["snapshot_steps"] or run["snapshot_steps"][-1] != step:
                snapshot(step)
        if progress is not None:
            progress(step, record)
    run["samples"] = np.stack(snapshots)
    run["seconds"] = round(time.perf_counter() - started, 1)
    run["generator"] = generator
    run["discriminator"] = discriminator
    return run


# ---------------------------------------------------------------------- the detectors
def discriminator_overpowers(history: Dict[str, Sequence[float]],
                             accuracy_threshold: float = OVERPOWER_ACCURACY,
                             window: int = OVERPOWER_WINDOW) -> bool:
    """Whether D's mean accuracy over the last ``window`` turns is at least ``accuracy_threshold``.

    ``history["d_acc"]``: D's accuracy per turn, in [0, 1]. A run shorter than ``window``
    is judged on all its turns; an empty one never overpowers.
    """
    accuracy = np.asarray(history["d_acc"], dtype=np.float64)[-int(window):]
    return bool(accuracy.size) and float(accuracy.mean()) >= accuracy_threshold


def classes_covered(labels: Sequence[int], min_share: float = COLLAPSE_MIN_SHARE) -> int:
    """How many digits hold at least ``min_share`` of ``labels``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1), minlength=10)
    return int((counts / max(1, counts.sum()) >= min_share).sum())


def mode_collapsed(images_or_labels: np.ndarray, max_classes: int = COLLAPSE_MAX_CLASSES,
                   min_share: float = COLLAPSE_MIN_SHARE) -> bool:
    """Whether a sample set covers at most ``max_classes`` digits.

    ``images_or_labels``: images ``(N, 28, 28, 1)`` in [-1, 1] (classified with the kit's
    MNIST classifier) or their digit labels ``(N,)``. A digit counts when at least
    ``min_share`` of the samples show it.
    """
    values = np.asarray(images_or_labels)
    labels = values if values.ndim == 1 else classify_digits(values)
    return classes_covered(labels, min_share) <= max_classes


def kit_alarms(run: Dict[str, Any]) -> Dict[str, Optional[str]]:
    """The dashboard's alarms (``widgets.alarms.AlarmMonitor``) replayed on a finished run.

    The monitor keeps its defaults (overpowering: D's accuracy averaged >= 98 % over 200
    turns) except the collapse warm-up, which is set for 8,000-step runs: here it is half
    the run. D's accuracy per turn feeds the overpowering alarm; the sample snapshots
    (channels first) feed the collapse alarm. Returns ``{"overpowering": message or None,
    "collapse": message or None}``: the message of each alarm still active at the end.
    """
    from ..widgets.alarms import DISCRIMINATOR_OVERPOWERING, MODE_COLLAPSE, AlarmMonitor

    steps = len(run["d_acc"])
    monitor = AlarmMonitor(collapse_warmup_steps=steps // 2)
    snapshot_at = dict(zip(run["snapshot_steps"], np.asarray(run["samples"], np.float32)))
    if 0 in snapshot_at:
        monitor.observe_samples(0, snapshot_at[0].transpose(0, 3, 1, 2))
    for step in range(1, steps + 1):
        accuracy = run["d_acc"][step - 1]
        monitor.observe_record(step, {"d_acc_real": accuracy, "d_acc_fake": accuracy})
        if step in snapshot_at:
            monitor.observe_samples(step, snapshot_at[step].transpose(0, 3, 1, 2))

    def message(name: str) -> Optional[str]:
        alarm = monitor.alarms.get(name)
        return alarm.message if alarm is not None and alarm.active else None

    return {"overpowering": message(DISCRIMINATOR_OVERPOWERING), "collapse": message(MODE_COLLAPSE)}


# ---------------------------------------------------------------------- files
def run_files(name: str, directory: Union[str, "os.PathLike[str]"] = ".") -> Tuple[Path, Path]:
    """``(<name>_history.json, <name>_samples.npy)`` in ``directory``."""
    folder = Path(directory)
    return folder / f"{name}_history.json", folder / f"{name}_samples.npy"


_SAVED_KEYS = ("config", "seed", "pretrain", "d_acc", "d_loss", "g_loss", "grad_steps",
               "g_grad_norm", "minimax_grad_norm", "snapshot_steps", "class_counts", "seconds")


def save_run(run: Dict[str, Any], name: str, directory: Union[str, "os.PathLike[str]"] = ".") -> Tuple[Path, Path]:
    """Write a run as JSON (numbers) and ``.npy`` (samples, float16); returns both paths."""
    history_path, samples_path = run_files(name, directory)
    history_path.parent.mkdir(parents=True, exist_ok=True)
    history = {key: run[key] for key in _SAVED_KEYS if key in run}
    history_path.write_text(json.dumps(history, allow_nan=False) + "\n")
    np.save(samples_path, np.asarray(run["samples"], np.float16), allow_pickle=False)
    return history_path, samples_path


def load_run(name: str, directory: Union[str, "os.PathLike[str]"] = ".") -> Dict[str, Any]:
    """A run saved by :func:`save_run` (``json`` and ``numpy.load(allow_pickle=False)`` only)."""
    history_path, samples_path = run_files(name, directory)
    run = json.loads(history_path.read_text())
    run["samples"] = np.load(samples_path, allow_pickle=False).astype(np.float32)
    return run


# ---------------------------------------------------------------------- in the notebook
def grading() -> bool:
    """Whether the notebook runs under nbgrader (``NBGRADER_EXECUTION`` set): runs load, not train."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def train_or_load(name: str, config: RunConfig, seed: int = 0,
                  directory: Union[str, "os.PathLike[str]"] = ".", **pieces: Any) -> Optional[Dict[str, Any]]:
    """Train the run ``name`` with ``config`` and save it next to the notebook; under nbgrader, load it.

    ``pieces``: the notebook's ``pretrain``, ``combine`` and ``turn`` functions, passed to
    :func:`run_experiment`. ``GANLAB_MAX_STEPS`` (when set) caps the turns and the
    pre-training steps, for quick test runs. Under nbgrader the saved files are read instead (``None`` and a note when
    they are missing: the checks of the saved runs then say what to hand in).
    """
    if grading():
        history_path, samples_path = run_files(name, directory)
        if not (history_path.is_file() and samples_path.is_file()):
            print(f"{history_path.name} / {samples_path.name} not found: nothing to load for the {name} run.")
            return None
        return load_run(name, directory)
    cap = os.environ.get("GANLAB_MAX_STEPS")
    if cap:  # a quick run: every phase shortened to at most `cap` steps
        cap_steps = max(1, int(cap))
        config = replace(config, steps=min(config.steps, cap_steps),
                         pretrain_steps=min(config.pretrain_steps, cap_steps),
                         freeze_discriminator_at=min(config.freeze_discriminator_at, cap_steps))
    run = run_experiment(config, seed=seed, **pieces)
    save_run(run, name, directory)
    return run


def plot_run(run: Optional[Dict[str, Any]], title: str = "") -> None:
    """D's accuracy, both losses, G's gradient norms, the first and last sample snapshots and
    the classifier's digit counts of a run, in one figure."""
    if run is None:
        return
    import matplotlib.pyplot as plt

    turns = np.arange(1, len(run["d_acc"]) + 1)
    figure = plt.figure(figsize=(13, 6.2))
    grid = figure.add_gridspec(2, 4)
    axis = figure.add_subplot(grid[0, 0])
    axis.plot(turns, run["d_acc"], lw=0.5, alpha=0.5, color="tab:blue")
    window = max(1, min(50, len(turns) // 10))
    smooth = np.convolve(run["d_acc"], np.ones(window) / window, mode="valid")
    axis.plot(turns[window - 1:], smooth, color="tab:blue")
    axis.axhline(0.5, color="gray", ls="--", lw=1)
    axis.axhline(OVERPOWER_ACCURACY, color="tab:red", ls=":", lw=1)
    axis.set(ylim=(0, 1.02), xlabel="turn", title="D's accuracy (50% = balance)")
    axis = figure.add_subplot(grid[0, 1])
    axis.plot(turns, run["g_loss"], lw=0.6, label="G (combined model)")
    axis.plot(turns, run["d_loss"], lw=0.6, label="D")
    axis.set(xlabel="turn", title="losses")
    axis.legend(fontsize=8)
    axis = figure.add_subplot(grid[0, 2])
    axis.semilogy(run["grad_steps"], run["g_grad_norm"], label="non-saturating (trains G)")
    if run.get("minimax_grad_norm"):
        axis.semilogy(run["grad_steps"], run["minimax_grad_norm"], label="minimax log(1 - D(G(z)))")
    axis.set(xlabel="turn", title="norm of G's gradient")
    axis.legend(fontsize=8)
    axis = figure.add_subplot(grid[0, 3])
    counts = np.asarray(run["class_counts"])
    axis.bar(np.arange(10) - 0.2, counts[0], width=0.4, label=f"turn {run['snapshot_steps'][0]}")
    axis.bar(np.arange(10) + 0.2, counts[-1], width=0.4, label=f"turn {run['snapshot_steps'][-1]}")
    axis.set(xticks=range(10), xlabel="digit (kit's classifier)", title="samples per digit")
    axis.legend(fontsize=8)
    samples = np.asarray(run["samples"])
    for column, (index, label) in enumerate(((0, "untrained G (after D's pre-training)"),
                                             (-1, f"G after {run['snapshot_steps'][-1]} turns"))):
        axis = figure.add_subplot(grid[1, 2 * column:2 * column + 2])
        tiles = samples[index, :32, :, :, 0].reshape(4, 8, 28, 28).transpose(0, 2, 1, 3).reshape(4 * 28, 8 * 28)
        axis.imshow(tiles, cmap="gray", vmin=-1, vmax=1)
        axis.set(title=label, xticks=[], yticks=[])
    figure.suptitle(title or f"{run['config']}", fontsize=9)
    figure.tight_layout()
    plt.show()
