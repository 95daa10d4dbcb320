"""Demo students of the Keras GAN lab: the reference, the stub and typical Keras mistakes.

Each mistake lists the checks that must catch it. A mistake costs points only in its
own part, because the checks of the other parts use the kit's reference pieces
(``ganlab_kit.keras_gan.lab``). The reference student hands in the kit's trained
generator as ``generator.weights.h5`` (see :func:`reference_files`).
"""
from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

GENERATOR_FILE = "generator.weights.h5"


def reference_files(destination):
    """{file name: path} of what the reference student hands in besides the notebook, written
    under the folder ``destination``: the kit's trained generator, saved as the notebook saves it."""
    from pathlib import Path

    from ganlab_kit.keras_gan.lab import write_reference_generator

    return {GENERATOR_FILE: write_reference_generator(Path(destination) / GENERATOR_FILE)}


SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution, with the kit's trained generator.weights.h5",
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched, without generator.weights.h5",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="keras2_freeze_once",
        description="create_gan sets discriminator.trainable = False once before compiling (the Keras 2 recipe)",
        edits=(Edit("create_gan_answer", "    noise = keras.Input(shape=(LATENT_DIM,))",
                    "    discriminator.trainable = False\n    noise = keras.Input(shape=(LATENT_DIM,))"),),
        expected_failures={"create_gan": frozenset({"test_discriminator_still_learns"})},
    ),
    Submission(
        name="lr_keyword",
        description="the optimizers use the Keras 2 keyword lr= instead of learning_rate=",
        edits=(Edit("optimizers_answer", "Adam(learning_rate=0.0002,", "Adam(lr=0.0002,"),
               Edit("optimizers_answer", "Adam(learning_rate=0.001,", "Adam(lr=0.001,")),
        expected_failures={"optimizers": frozenset({"test_adam", "test_discriminator_settings",
                                                    "test_gan_settings"})},
    ),
    Submission(
        name="swapped_labels",
        description="train_gan labels the real images 0 and the fakes 1 for D",
        edits=(Edit("train_gan_answer", "np.concatenate([labels_real, labels_fake])",
                    "np.concatenate([labels_fake, labels_real])"),),
        expected_failures={"train_gan": frozenset({"test_discriminator_labels"})},
    ),
    Submission(
        name="no_dropout",
        description="create_discriminator has no Dropout layers",
        edits=(Edit("discriminator_answer",
                    "    if dropout_rate > 0:\n        discriminator.add(layers.Dropout(dropout_rate))\n"
                    "    discriminator.add(layers.Dense(600))",
                    "    discriminator.add(layers.Dense(600))"),
               Edit("discriminator_answer",
                    "    if dropout_rate > 0:\n        discriminator.add(layers.Dropout(dropout_rate))\n"
                    "    discriminator.add(layers.Dense(300))",
                    "    discriminator.add(layers.Dense(300))")),
        expected_failures={"discriminator": frozenset({"test_dropout_placement", "test_dropout_rate_argument"})},
    ),
    Submission(
        name="no_tanh",
        description="the generator's output layer has no tanh",
        edits=(Edit("generator_answer", 'layers.Dense(IMAGE_DIM, activation="tanh")', "layers.Dense(IMAGE_DIM)"),),
        expected_failures={"generator": frozenset({"test_output_range"})},
    ),
    Submission(
        name="gan_label_zero",
        description="train_gan trains the stacked model with the label 0 instead of 1",
        edits=(Edit("train_gan_answer", 'labels_gan = np.ones((batch_size, 1), "float32")',
                    'labels_gan = np.zeros((batch_size, 1), "float32")'),),
        expected_failures={"train_gan": frozenset({"test_generator_labels"})},
    ),
    Submission(
        name="accuracy_wrong_axis",
        description="predicted_classes takes the argmax along axis 0 (over images) instead of axis 1",
        edits=(Edit("classifier_answer", "np.argmax(probabilities, axis=1)", "np.argmax(probabilities, axis=0)"),),
        expected_failures={"classifier": frozenset({"test_predicted_classes", "test_accuracy"})},
    ),
]
