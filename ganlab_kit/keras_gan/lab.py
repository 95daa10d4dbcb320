"""Reference pieces of the Keras MLP GAN lab (``assignments/source/keras_gan``), Keras 3.

The lab follows a classic Keras 2 course project: an MLP generator 100 -> 300 -> 600 ->
1200 -> 784 (tanh), an MLP discriminator 784 -> 1200 -> 600 -> 300 -> 1 (sigmoid) with
dropout after its first two hidden layers, a stacked model D(G(z)) and Goodfellow's
Algorithm 1 with ``train_on_batch``. Images are flat ``(B, 784)`` vectors in [-1, 1].

The hidden checks build these in the notebook's process (``nb.new("ganlab_kit.keras_gan.lab:
build_lab_generator")``) so that every part is graded against the kit's answer for the
others. ``write_reference_generator`` writes the kit's trained generator the way a
student's notebook saves it (``generator.weights.h5``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Sequence, Union

from ..config import LAB_STEPS_ENV, GradingBudget, lab_step_cap
from .lab_weights import (LAB_HIDDEN, LAB_IMAGE_DIM, LAB_LATENT_DIM, LAB_LEAKY_SLOPE,
                          REFERENCE_KERAS_GENERATOR, read_dense_weights)

__all__ = ["LAB_DROPOUT_RATE", "LAB_BATCH_SIZE", "GENERATOR_FILE", "lab_steps", "autograder_running",
           "AlgorithmOneWatch", "LiveTraining",
           "lab_dis_optimizer", "lab_gan_optimizer", "build_lab_generator",
           "build_lab_discriminator", "build_optimizer_probe", "build_lab_gan", "build_loop_probe",
           "write_reference_generator"]

LAB_DROPOUT_RATE = 0.3            # rate of each of the discriminator's two Dropout layers
LAB_BATCH_SIZE = 64               # real images (and as many fakes) per discriminator step
GENERATOR_FILE = "generator.weights.h5"  # what the lab's training cell saves and students hand in
FAST_STEPS_ENV = LAB_STEPS_ENV          # caps a lab's training runs (the fast path CI takes)

PathLike = Union[str, "os.PathLike[str]"]


def autograder_running() -> bool:
    """True while nbgrader executes the notebook (autograde, validate, the Validate button),
    with or without the course's config: then no cell may write over a file the student made."""
    return GradingBudget.from_environment().active


def _holds_something(path: PathLike) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(item.is_file() for item in path.rglob("*"))
    return path.exists()


def lab_steps(steps: int, keep: Sequence[PathLike] = ()) -> int:
    """How many steps a training cell of a lab runs.

    ``steps`` normally; at most ``$GANLAB_LAB_STEPS`` when that is set (a quick run of the
    whole notebook); and while nbgrader executes the notebook, at most ``GANLAB_MAX_STEPS``
    (the grading budget; the shipped grading config sets it to 0) and **none** when any of
    ``keep`` (the run's files: its weights, its sample folder) is already there, so that
    ``nbgrader validate`` without the course config never trains over what the student made.
    """
    steps = int(steps)
    fast = lab_step_cap()  # the labs' one reading of GANLAB_LAB_STEPS (the PyTorch trainer's too)
    if fast is not None:
        steps = min(steps, fast)
    budget = GradingBudget.from_environment()
    if budget.active:
        steps = min(steps, budget.max_steps)
        if any(_holds_something(path) for path in keep):
            steps = 0
    return steps


def _keras():
    from ._backend import require_tensorflow_backend

    return require_tensorflow_backend()


def lab_dis_optimizer():
    """Adam for the discriminator: learning rate 0.0002, beta_1 0.5, beta_2 0.999."""
    return _keras().optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.999)


def lab_gan_optimizer():
    """Adam for the stacked model (trains G): learning rate 0.001, beta_1 0.5, beta_2 0.999.

    The original project kept beta_1 at 0.9; on Keras 3 with the lab's networks that
    momentum collapses the generator within about 100 steps (measured on batches of 16
    and 64), while beta_1 = 0.5 keeps the game balanced.
    """
    return _keras().optimizers.Adam(learning_rate=0.001, beta_1=0.5, beta_2=0.999)


def build_lab_generator(leaky_slope: float = LAB_LEAKY_SLOPE, output_activation: str = "tanh"):
    """Noise ``(B, 100)`` -> images ``(B, 784)``: Dense 300, 600, 1200 (LeakyReLU), Dense 784 (tanh)."""
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential(name="generator")
    model.add(keras.Input(shape=(LAB_LATENT_DIM,)))                          # (B, 100)
    for units in LAB_HIDDEN:
        model.add(layers.Dense(units))                                        # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
    model.add(layers.Dense(LAB_IMAGE_DIM, activation=output_activation))      # (B, 784)
    return model


def build_lab_discriminator(dropout_rate: float = LAB_DROPOUT_RATE, optimizer=None,
                            leaky_slope: float = LAB_LEAKY_SLOPE, compile: bool = True):
    """Images ``(B, 784)`` -> D(x) ``(B, 1)`` in (0, 1), compiled with binary cross-entropy.

    Dense 1200 (LeakyReLU, Dropout) -> Dense 600 (LeakyReLU, Dropout) -> Dense 300
    (LeakyReLU) -> Dense 1 (sigmoid); ``dropout_rate=0`` leaves the Dropout layers out.
    """
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential(name="discriminator")
    model.add(keras.Input(shape=(LAB_IMAGE_DIM,)))                            # (B, 784)
    for index, units in enumerate(reversed(LAB_HIDDEN)):
        model.add(layers.Dense(units))                                        # (B, units)
        model.add(layers.LeakyReLU(negative_slope=leaky_slope))
        if dropout_rate and index < 2:
            model.add(layers.Dropout(dropout_rate))
    model.add(layers.Dense(1, activation="sigmoid"))                          # (B, 1)
    if compile:
        model.compile(loss="binary_crossentropy",
                      optimizer=optimizer if optimizer is not None else lab_dis_optimizer(),
                      metrics=["accuracy"])
    return model


def build_optimizer_probe(optimizer):
    """The smallest model compiled as the lab's discriminator is (binary cross-entropy, accuracy,
    ``optimizer``): flat images ``(B, 784)`` -> Dense(1, sigmoid). The hidden checks train two
    of them to see whether two calls of an optimizer function give two optimizers (Keras 3
    lets one optimizer train only the variables it was first built with, whatever the model's
    size), at a fraction of the lab discriminator's first step. It runs eagerly (``run_eagerly``):
    the optimizer meets the model's variables in the same Python code as in a traced step, and
    the step costs no trace (0.15 s against 0.4 s on 2 cores)."""
    keras = _keras()
    model = keras.Sequential([keras.Input(shape=(LAB_IMAGE_DIM,)), keras.layers.Dense(1, activation="sigmoid")],
                             name="optimizer_probe")
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"], run_eagerly=True)
    return model


def build_lab_gan(discriminator, generator, optimizer=None):
    """The stacked model D(G(z)): noise ``(B, 100)`` -> ``(B, 1)``, compiled, D left trainable.

    Keras 3 reads ``discriminator.trainable`` when a model's train function is first run,
    not at ``compile``; Algorithm 1 sets it before each ``train_on_batch``.
    """
    keras = _keras()
    noise = keras.Input(shape=(LAB_LATENT_DIM,))
    gan = keras.Model(noise, discriminator(generator(noise)), name="gan")
    gan.compile(loss="binary_crossentropy",
                optimizer=optimizer if optimizer is not None else lab_gan_optimizer(),
                metrics=["accuracy"])
    return gan


def build_loop_probe(hidden_units: int = 64, leaky_slope: float = LAB_LEAKY_SLOPE):
    """``(generator, discriminator, gan)`` for running a student's ``train_gan`` loop under the
    hidden checks: the lab's shapes and settings (noise ``(B, 100)`` -> images ``(B, 784)`` in
    [-1, 1] by tanh; images -> D(x) ``(B, 1)`` by sigmoid; LeakyReLU; both compiled with binary
    cross-entropy, accuracy and the lab's optimizers, the stacked model by :func:`build_lab_gan`)
    with one hidden layer of ``hidden_units`` each instead of three wide ones, and no dropout.
    What a loop does with the three models (its calls, inputs, targets, flags, which weights
    change) does not depend on the widths or the depth; a new model's first traced step
    does: about half the seconds of the lab's networks on 2 cores."""
    keras = _keras()
    layers = keras.layers
    generator = keras.Sequential([keras.Input(shape=(LAB_LATENT_DIM,)),                 # (B, 100)
                                  layers.Dense(hidden_units), layers.LeakyReLU(negative_slope=leaky_slope),
                                  layers.Dense(LAB_IMAGE_DIM, activation="tanh")],       # (B, 784)
                                 name="generator")
    discriminator = keras.Sequential([keras.Input(shape=(LAB_IMAGE_DIM,)),              # (B, 784)
                                      layers.Dense(hidden_units), layers.LeakyReLU(negative_slope=leaky_slope),
                                      layers.Dense(1, activation="sigmoid")],            # (B, 1)
                                     name="discriminator")
    discriminator.compile(loss="binary_crossentropy", optimizer=lab_dis_optimizer(), metrics=["accuracy"])
    return generator, discriminator, build_lab_gan(discriminator, generator)


def write_reference_generator(destination: PathLike, source: Optional[PathLike] = None) -> Path:
    """Save the kit's trained lab generator as a student's notebook does: Keras
    ``save_weights`` to ``destination`` (a ``.weights.h5`` file), float32."""
    source = Path(source) if source is not None else REFERENCE_KERAS_GENERATOR
    if not source.is_file():
        raise FileNotFoundError(
            f"the Keras lab's reference generator is missing ({source}); "
            "autograder/keras_gan/calibrate_quality.py --write-reference trains it")
    weights = read_dense_weights(source)
    generator = build_lab_generator()
    generator.set_weights([array for pair in weights for array in pair])
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    generator.save_weights(destination)
    return destination


class AlgorithmOneWatch:
    """Records what a ``train_gan`` loop does with the lab's three models, one call at a time.

    ``AlgorithmOneWatch(generator, discriminator, gan)`` wraps ``discriminator.train_on_batch``
    and ``gan.train_on_batch`` until :meth:`stop`. Each entry of :attr:`calls` is plain data:
    ``{"model": "discriminator" | "gan", "inputs": (B, ...) float32, "targets": array or None,
    "trainable": D's flag at the call, "changed": {"discriminator": bool, "generator": bool},
    "result": [loss, metric, ...] as floats, "generated": G(inputs) before a gan call (None
    for D's calls)}``; ``generated`` lets a check see whether G's step reused the noise of
    D's fakes. :meth:`problems` says, in the words of the notebook, what a loop got wrong.
    Used by the lab's quick check of ``train_gan`` and by its hidden checks.
    """

    def __init__(self, generator, discriminator, gan) -> None:
        self.calls = []
        self._models = {"generator": generator, "discriminator": discriminator, "gan": gan}
        self._originals = {}
        for name in ("discriminator", "gan"):
            model = self._models[name]
            self._originals[name] = model.train_on_batch
            model.train_on_batch = self._recording(name, model.train_on_batch)
        self._predict = generator.predict_on_batch

    def _weights(self, name: str):
        return [weight.numpy() for weight in self._models[name].weights]

    def _recording(self, name: str, original):
        import numpy as np

        from .first_step import prepare_first_step

        model = self._models[name]

        def train_on_batch(x, y=None, *args, **kwargs):
            first = x[0] if isinstance(x, (list, tuple)) else x
            inputs = np.array(first, dtype=np.float32)
            generated = None
            if name == "gan" and inputs.ndim == 2 and inputs.shape[-1] == LAB_LATENT_DIM:
                generated = np.array(self._predict(inputs), dtype=np.float32).reshape(len(inputs), -1)
            trainable = bool(self._models["discriminator"].trainable)
            before = {key: self._weights(key) for key in ("discriminator", "generator")}
            if "class_weight" not in kwargs and len(args) <= 1:  # the same step, traced once (first_step.py)
                prepare_first_step(model, x, y, args[0] if args else kwargs.get("sample_weight"))
            result = original(x, y, *args, **kwargs)
            changed = {key: any(old.shape != new.shape or not np.array_equal(old, new)
                                for old, new in zip(before[key], self._weights(key))) for key in before}
            self.calls.append({"model": name, "inputs": inputs, "generated": generated,
                               "targets": None if y is None else np.array(y, dtype=np.float32),
                               "trainable": trainable, "changed": changed, "result": _flat_floats(result)})
            return result

        return train_on_batch

    def stop(self) -> None:
        """Give the models their own ``train_on_batch`` back."""
        for name in ("discriminator", "gan"):
            try:
                del self._models[name].train_on_batch
            except AttributeError:
                pass

    def __enter__(self) -> "AlgorithmOneWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def problems(self, real_images, history=None) -> list:
        """What the recorded steps got wrong, one sentence each saying what to change ([] if nothing).

        ``real_images`` ``(N, 784)``: the training images the loop was given; ``history``: what
        the loop returned, compared with what each ``train_on_batch`` returned.
        """
        import numpy as np

        real_images = np.asarray(real_images, dtype=np.float32).reshape(len(real_images), -1)
        found = []
        order = [call["model"] for call in self.calls]
        steps = order.count("gan")
        if not self.calls or order != ["discriminator", "gan"] * steps:
            return [f"the loop called train_on_batch in this order: {order[:8]}{' ...' if len(order) > 8 else ''}; "
                    "each step is one discriminator.train_on_batch, then one gan.train_on_batch"]
        d_calls = [call for call in self.calls if call["model"] == "discriminator"]
        g_calls = [call for call in self.calls if call["model"] == "gan"]
        if not all(call["changed"]["discriminator"] for call in d_calls):
            found.append("D's weights did not change at its own train_on_batch: D was frozen. Set "
                         "discriminator.trainable = True right before it, and remove any "
                         "discriminator.trainable = False from create_gan (the Keras 2 recipe: Keras 3 "
                         "reads the flag when a model first trains, so D never learns)")
        if any(call["trainable"] or call["changed"]["discriminator"] for call in g_calls):
            found.append("the stacked model's train_on_batch trained D too (towards calling fakes real): "
                         "set discriminator.trainable = False right before gan.train_on_batch")
        reals, fakes = [], []
        for call in d_calls:
            data = call["inputs"].reshape(len(call["inputs"]), -1)
            is_real = np.array([bool(np.any(np.all(np.abs(real_images - row) < 1e-6, axis=1))) for row in data])
            if 2 * int(is_real.sum()) != len(data):
                found.append(f"D's batch held {int(is_real.sum())} training images among {len(data)}: give it "
                             "batch_size real images and batch_size fakes from generator.predict_on_batch(noise)")
                break
            targets = None if call["targets"] is None else call["targets"].reshape(-1)
            if targets is not None and len(targets) == len(data) and is_real.any() and (~is_real).any():
                if np.all(targets[is_real] <= 0.3) and np.all(targets[~is_real] >= 0.7):
                    found.append("D's labels are swapped: the real images got 0 and the fakes 1. Label real "
                                 "images 1 and fakes 0, in the order of concatenate(real_images, fake_images)")
                    break
            reals.append(data[is_real].tobytes())
            fakes.append(data[~is_real])
        if len(reals) > 1 and len(set(reals)) == 1:
            found.append("D saw the same real images at every step: draw a new random batch each step, "
                         "images[rng.integers(0, len(images), batch_size)]")
        for call, fake in zip(g_calls, fakes):
            if call["generated"] is not None and len(fake) and len(fake) == len(call["generated"]) \
                    and np.allclose(np.sort(call["generated"], axis=0), np.sort(fake, axis=0), atol=1e-4):
                found.append("the stacked model trained on the noise that made D's fakes: draw new noise "
                             "for G's step (Algorithm 1, line 8)")
                break
        noise = np.concatenate([call["inputs"].ravel() for call in g_calls])
        if abs(noise.mean()) > 0.3 or not 0.7 < noise.std() < 1.3:
            found.append(f"G's noise has mean {noise.mean():.2f} and standard deviation {noise.std():.2f}: draw it "
                         "from a standard normal distribution, rng.standard_normal((batch_size, LATENT_DIM))")
        if history is not None:
            for name, calls in (("d_loss", d_calls), ("d_acc", d_calls), ("gan_loss", g_calls), ("gan_acc", g_calls)):
                position = 0 if name.endswith("loss") else 1
                returned = [call["result"][position] for call in calls if len(call["result"]) > position]
                recorded = history.get(name) if isinstance(history, dict) else None
                try:
                    same = len(returned) != len(calls) or np.allclose(np.asarray(recorded, dtype=float), returned,
                                                                      rtol=1e-5, atol=1e-6)
                except (TypeError, ValueError):
                    same = False
                if not same:
                    model = "discriminator" if name.startswith("d_") else "gan"
                    found.append(f"history[{name!r}] should hold, as one float per step, the "
                                 f"{'loss' if position == 0 else 'accuracy'} that {model}.train_on_batch returned: "
                                 f"`loss, accuracy = {model}.train_on_batch(...)`")
                    break
        for call in g_calls:
            targets = None if call["targets"] is None else call["targets"].reshape(-1)
            if targets is None or not np.all(targets >= 0.7):
                found.append("train the stacked model with ones(batch_size) as labels: G learns to make D "
                             "call its fakes real")
                break
        return found


def _flat_floats(value) -> list:
    """A train_on_batch answer (a number, a list of numbers or a dict of them) as a flat list of floats."""
    import numpy as np

    if isinstance(value, dict):
        value = list(value.values())
    try:
        return [float(number) for number in np.asarray(value, dtype=np.float64).reshape(-1)]
    except (TypeError, ValueError):
        return []


class _Stopped(Exception):
    """Raised inside a watched ``train_on_batch`` when the dashboard's Stop was pressed."""


class LiveTraining:
    """The kit's live dashboard around a student's own Algorithm 1 loop (``train_gan``).

    ``LiveTraining(title).run(train_gan, generator, discriminator, gan, images, steps, **kwargs)``
    calls ``train_gan(generator, discriminator, gan, images, steps, **kwargs)`` unchanged while
    the dashboard (:class:`ganlab_kit.widgets.TrainingDashboard`) shows the losses, D's accuracy
    and mean outputs on real and fake images, samples of fixed noise every ``snapshot_every``
    steps, progress with ETA, and Pause / Stop. It learns of each step from the models'
    ``train_on_batch`` calls, which it watches for the run (the loop need not know about it).
    Pause holds the loop before G's next step; Stop ends the run after the current step and
    returns the steps done, in the history's format. Headless (nbgrader, nbconvert) the run
    leaves one static picture of the dashboard.
    """

    def __init__(self, title: str = "GAN training", snapshot_every: int = 50, n_fixed: int = 32,
                 seed: int = 0) -> None:
        from ..torch_gan.trainer import RunControl
        from ..widgets import TrainingDashboard

        self.title = title
        self.snapshot_every = int(snapshot_every)
        self.n_fixed = int(n_fixed)
        self.seed = seed
        self.dashboard = TrainingDashboard(None, title=title, quality_every=0)
        self.control = RunControl()  # what the dashboard's Pause / Stop act on
        self.control.step = 0
        self.control.params = {}
        self.control.history = ()
        self.history = {"d_loss": [], "d_acc": [], "gan_loss": [], "gan_acc": []}

    def run(self, train_gan, generator, discriminator, gan, images, steps, **kwargs):
        """``train_gan(generator, discriminator, gan, images, steps, **kwargs)`` with the dashboard; its history.

        A run of no steps while nbgrader grades the notebook (``autograde``, ``validate``; the
        saved files stand for the run) calls ``train_gan`` without the dashboard, whose picture
        would show nothing: a second less per run to grade.
        """
        import numpy as np

        budget = GradingBudget.from_environment()
        if int(steps) == 0 and budget.active and not budget.solution:
            return train_gan(generator, discriminator, gan, images, steps, **kwargs)

        control, dashboard = self.control, self.dashboard
        control.step = 0
        control.params = {"epochs": 1, "steps": int(steps)}
        control.generator = generator
        control.clear_stop()
        fixed = np.random.default_rng(self.seed).standard_normal((self.n_fixed, LAB_LATENT_DIM)).astype(np.float32)
        last_d = {}
        originals = {"discriminator": discriminator.train_on_batch, "gan": gan.train_on_batch}

        def snapshot():
            pictures = np.asarray(generator.predict_on_batch(fixed), dtype=np.float32)
            dashboard.on_snapshot(control, control.step, pictures.reshape(len(pictures), 1, 28, 28))

        def d_step(x, y=None, *args, **kw):
            data, targets = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32).reshape(-1)
            verdicts = np.asarray(discriminator.predict_on_batch(data), dtype=np.float32).reshape(-1)
            real = targets >= 0.5
            result = originals["discriminator"](x, y, *args, **kw)
            values = _flat_floats(result)
            last_d.update(loss=values[0] if values else np.nan, acc=values[1] if len(values) > 1 else np.nan,
                          d_acc_real=float(np.mean(verdicts[real] > 0.5)) if real.any() else np.nan,
                          d_acc_fake=float(np.mean(verdicts[~real] <= 0.5)) if (~real).any() else np.nan,
                          d_real=float(np.mean(verdicts[real])) if real.any() else np.nan,
                          d_fake=float(np.mean(verdicts[~real])) if (~real).any() else np.nan)
            return result

        def g_step(x, y=None, *args, **kw):
            control.wait_while_paused()
            if control.stop_requested:
                raise _Stopped()
            started = time.perf_counter()
            result = originals["gan"](x, y, *args, **kw)
            values = _flat_floats(result)
            control.step += 1
            record = {"step": control.step, "d_loss": last_d.get("loss", np.nan),
                      "g_loss": values[0] if values else np.nan,
                      "examples_per_sec": 2 * len(np.asarray(x)) / max(time.perf_counter() - started, 1e-9)}
            record.update({name: last_d.get(name, np.nan) for name in ("d_acc_real", "d_acc_fake", "d_real", "d_fake")})
            for name, value in (("d_loss", last_d.get("loss", np.nan)), ("d_acc", last_d.get("acc", np.nan)),
                                ("gan_loss", record["g_loss"]), ("gan_acc", values[1] if len(values) > 1 else np.nan)):
                self.history[name].append(float(value))
            dashboard.on_step_end(control, record)
            if self.snapshot_every and control.step % self.snapshot_every == 0:
                snapshot()
            return result

        for name in self.history:
            self.history[name] = []
        discriminator.train_on_batch, gan.train_on_batch = d_step, g_step
        dashboard.on_train_begin(control)
        snapshot()
        returned, stopped = None, False
        try:
            returned = train_gan(generator, discriminator, gan, images, steps, **kwargs)
        except _Stopped:
            stopped = True
        finally:
            for model in (discriminator, gan):
                try:
                    del model.train_on_batch
                except AttributeError:
                    pass
            if control.step % max(self.snapshot_every, 1):
                snapshot()
            if stopped:
                control.stop()
            dashboard.on_train_end(control)
        return self.history if stopped else returned
