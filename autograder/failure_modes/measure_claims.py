"""Measure what the failure-modes notebook claims, through the notebook's own flow.

Each measurement prints one JSON row; docs/lab_failure_modes.md records them. All runs use
seed 0 and the kit's pieces, in the notebook's order (D compiled by the kit, pre-trained,
the combined model built, then the turns), except where a row names a change:

* ``freeze_once``: the Keras 2 recipe (``discriminator.trainable = False`` once before the
  combined model is compiled, never set in the turn), after the usual 20 pre-training steps,
  and again with no pre-training (D's first ``train_on_batch`` then comes after the flag is
  False): in how many turns D's own step changed D, and G's step changed D;
* ``reference``: the reference pieces for as many turns, to compare;
* ``label_smoothing``: the overpowered settings with real targets 0.9 in D's step: Keras's
  ``"accuracy"`` against the kit's hard-label :func:`~ganlab_kit.keras_gan.failure.accuracy`,
  and what the reference detector and the kit's alarm say on each;
* ``collapse_knobs``: each knob of the notebook's collapse list, on seed 0, 1,000 turns: the
  digits the last samples cover (the checks' PyTorch classifier) and D's accuracy.

    python autograder/failure_modes/measure_claims.py freeze_once reference label_smoothing
    python autograder/failure_modes/measure_claims.py collapse_knobs
"""
import json
import sys
from dataclasses import replace

import numpy as np

TURNS = 300


def _setup():
    from ganlab_kit.keras_gan import failure, require_tensorflow_backend

    keras = require_tensorflow_backend()
    return failure, keras


def _changed(before, after):
    return any(not np.array_equal(old, new) for old, new in zip(before, after))


def freeze_once(pretrain_steps):
    """The Keras 2 recipe through the notebook's cells in order, for TURNS turns."""
    failure, keras = _setup()
    config = replace(failure.PRESETS["healthy"], pretrain_steps=pretrain_steps)
    failure.seed_everything(0)
    images = failure.training_images()
    generator, discriminator = failure.build_networks(config)
    failure.compile_discriminator(discriminator, config.d_lr, config.beta_1)
    failure.pretrain_discriminator(generator, discriminator, images, config.pretrain_steps,
                                   batch_size=config.batch_size, seed=0)
    noise = keras.Input(shape=(config.latent_dim,))
    combined = keras.Model(noise, discriminator(generator(noise)))
    discriminator.trainable = False                       # once, before compiling: the Keras 2 recipe
    combined.compile(optimizer=keras.optimizers.Adam(config.g_lr, beta_1=config.beta_1),
                     loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    d_learned = d_moved_in_g_step = 0
    accuracy = []
    for _ in range(TURNS):
        real = images[rng.choice(len(images), config.batch_size, replace=False)]
        z = rng.standard_normal((config.batch_size, config.latent_dim)).astype("float32")
        before = discriminator.get_weights()
        combined.train_on_batch(z, np.ones((config.batch_size, 1), "float32"))
        middle = discriminator.get_weights()
        fake = generator.predict_on_batch(z)
        targets = np.concatenate([np.ones((config.batch_size, 1)), np.zeros((config.batch_size, 1))])
        _, d_acc = discriminator.train_on_batch(np.concatenate([real, fake]), targets.astype("float32"))
        d_moved_in_g_step += _changed(before, middle)
        d_learned += _changed(middle, discriminator.get_weights())
        accuracy.append(float(d_acc))
    return {"measure": "freeze_once", "pretrain_steps": pretrain_steps, "turns": TURNS,
            "turns_d_learned_in_its_step": d_learned, "turns_d_moved_in_g_step": d_moved_in_g_step,
            "d_acc_last_100": round(float(np.mean(accuracy[-100:])), 3)}


def reference():
    failure, _ = _setup()
    run = failure.run_experiment(replace(failure.PRESETS["healthy"], steps=TURNS), seed=0)
    return {"measure": "reference", "turns": TURNS, "d_acc_last_100": round(float(np.mean(run["d_acc"][-100:])), 3)}


def label_smoothing(real_target=0.9):
    """The overpowered settings with one-sided label smoothing in D's step (real target 0.9)."""
    failure, keras = _setup()
    config = replace(failure.PRESETS["overpowered"], steps=600)
    failure.seed_everything(0)
    images = failure.training_images()
    generator, discriminator = failure.build_networks(config)
    discriminator.compile(optimizer=keras.optimizers.Adam(config.d_lr, beta_1=config.beta_1),
                          loss="binary_crossentropy", metrics=["accuracy", failure.accuracy])
    failure.pretrain_discriminator(generator, discriminator, images, config.pretrain_steps,
                                   batch_size=config.batch_size, seed=0)
    combined = failure.build_combined_model(generator, discriminator, config.g_lr, config.beta_1)
    rng = np.random.default_rng(0)
    keras_accuracy, hard_accuracy, by_hand = [], [], []
    for _ in range(config.steps):
        real = images[rng.choice(len(images), config.batch_size, replace=False)]
        z = rng.standard_normal((config.batch_size, config.latent_dim)).astype("float32")
        discriminator.trainable = False
        combined.train_on_batch(z, np.ones((config.batch_size, 1), "float32"))
        discriminator.trainable = True
        fake = generator.predict_on_batch(z)
        batch = np.concatenate([real, fake])
        targets = np.concatenate([np.full((config.batch_size, 1), real_target),
                                  np.zeros((config.batch_size, 1))]).astype("float32")
        scores = np.asarray(discriminator(batch, training=False)).reshape(-1)
        by_hand.append(float(np.mean((scores > 0.5) == (targets.reshape(-1) > 0.5))))
        logs = discriminator.train_on_batch(batch, targets, return_dict=True)
        keras_accuracy.append(float(logs["accuracy"]))       # Keras's "accuracy" (listed first)
        hard_accuracy.append(float(logs["accuracy_1"]))      # the kit's failure.accuracy
    verdicts = {}
    for name, values in (("keras_accuracy", keras_accuracy), ("kit_accuracy", hard_accuracy)):
        history = {"d_acc": values}
        run = {"d_acc": values, "snapshot_steps": [], "samples": np.zeros((0, 1, 28, 28, 1))}
        verdicts[name] = {"max": round(max(values), 3), "mean_last_100": round(float(np.mean(values[-100:])), 3),
                          "detector_overpowers": failure.discriminator_overpowers(history),
                          "kit_alarm_overpowering": failure.kit_alarms(run)["overpowering"] is not None}
    return {"measure": "label_smoothing", "settings": "overpowered, 600 turns", "real_target": real_target,
            **verdicts, "by_hand_inference_mean_last_100": round(float(np.mean(by_hand[-100:])), 3)}


COLLAPSE_KNOBS = {
    "freeze_discriminator_at=500": dict(freeze_discriminator_at=500),
    "g_lr=1e-2 (d_lr 1e-3)": dict(g_lr=1e-2),
    "generator_turns=5": dict(generator_turns=5),
    "latent_dim=1": dict(latent_dim=1),
    "noise_scale=0.05": dict(noise_scale=0.05),
}


def collapse_knob(label):
    failure, _ = _setup()
    from ganlab_kit.scoring import classify

    config = replace(failure.PRESETS["healthy"], steps=1000, **COLLAPSE_KNOBS[label])
    run = failure.run_experiment(config, seed=0)
    labels, _ = classify(run["samples"][-1])
    return {"measure": "collapse_knob", "knob": label, "seed": 0, "turns": config.steps,
            "digits_covered": failure.classes_covered(labels),
            "counts": np.bincount(labels, minlength=10).tolist(),
            "collapsed": failure.mode_collapsed(labels),
            "kit_alarm_collapse": failure.kit_alarms(run)["collapse"] is not None,
            "d_acc_last_100": round(float(np.mean(run["d_acc"][-100:])), 3), "seconds": run["seconds"]}


def main(names):
    for name in names:
        if name == "freeze_once":
            rows = [freeze_once(20), freeze_once(0)]
        elif name == "reference":
            rows = [reference()]
        elif name == "label_smoothing":
            rows = [label_smoothing()]
        elif name == "collapse_knobs":
            rows = [collapse_knob(label) for label in COLLAPSE_KNOBS]
        elif name.startswith("knob:"):
            rows = [collapse_knob(name[len("knob:"):])]
        else:
            raise SystemExit(f"unknown measurement {name!r}")
        for row in rows:
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
