"""Demo students of the failure-modes lab: the reference, the stub and typical mistakes.

Each mistake lists the checks that must catch it. The checks of one part hand the
student's function the kit's networks and the kit's combined model, so a mistake costs
points where it lives. The reference student hands in the kit's reference runs
(``reference_files``); the saved runs are graded from those files.
"""
from pathlib import Path

from ganlab_kit.grading.submissions import ALL_CHECKS, Edit, Submission

REFERENCE_RUNS = Path(__file__).resolve().parents[2] / "ganlab_kit" / "assets" / "failure_modes"


def reference_files(destination=None):
    """{file name: path} of the reference runs a student hands in with the notebook."""
    return {path.name: path for path in sorted(REFERENCE_RUNS.glob("*_history.json"))
            + sorted(REFERENCE_RUNS.glob("*_samples.npy"))}


SUBMISSIONS = [
    Submission(
        name="reference",
        description="the reference solution, with the kit's reference runs",
    ),
    Submission(
        name="stub",
        description="the release notebook handed in untouched, without the runs",
        stub=True,
        generator=None,
        expected_failures=ALL_CHECKS,
    ),
    Submission(
        name="keras2_freeze",
        description="D frozen the Keras 2 way: trainable = False once before compiling the combined "
                    "model, never set in the turn. In the lab's order this works (D's own train step was "
                    "traced trainable during pre-training; measured: D learned in 300 of 300 turns), so "
                    "it keeps every point (it lost 2 before issue 26)",
        edits=(Edit("combined_answer", "    combined.compile(",
                    "    discriminator.trainable = False  # freeze D once, as in Keras 2\n    combined.compile("),
               Edit("turn_answer", "    discriminator.trainable = False                                         # G's step: D frozen\n", ""),
               Edit("turn_answer", "    discriminator.trainable = True                                          # D's step: D learns\n", "")),
        expected_failures={},
    ),
    Submission(
        name="generator_target_zero",
        description="the combined model trains G towards target 0 (the fakes' label), as the seed's text says",
        edits=(Edit("turn_answer", 'combined.train_on_batch(noise, np.ones((len(noise), 1), "float32"))',
                    'combined.train_on_batch(noise, np.zeros((len(noise), 1), "float32"))'),),
        expected_failures={"turn": frozenset({"test_label_vectors"})},
    ),
    Submission(
        name="pretrain_trains_generator",
        description="pre-training plays full turns through the combined model, so G learns too",
        # written inside the function, as a student would: the notebook defines the combined
        # model and the turn only later, so calling them here would fail with a NameError
        edits=(Edit("pretrain_answer", "    discriminator.trainable = True\n    for _ in range(steps):",
                    "    stacked = keras.Sequential([generator, discriminator])\n"
                    "    stacked.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss=\"binary_crossentropy\")\n"
                    "    for _ in range(steps):\n        discriminator.trainable = True"),
               Edit("pretrain_answer", "        discriminator.train_on_batch(np.concatenate([real, fake]), targets)\n",
                    "        discriminator.train_on_batch(np.concatenate([real, fake]), targets)\n"
                    "        discriminator.trainable = False\n"
                    "        stacked.train_on_batch(noise, np.ones((batch_size, 1), dtype=\"float32\"))  # G learns too\n"
                    "    discriminator.trainable = True\n")),
        expected_failures={"pretrain": frozenset({"test_generator_untouched"})},
    ),
    Submission(
        name="reversed_comparison",
        description="discriminator_overpowers compares with < instead of >=",
        edits=(Edit("overpowering_answer", "recent.mean() >= accuracy_threshold",
                    "recent.mean() < accuracy_threshold"),),
        expected_failures={"overpowering_detector": frozenset({
            "test_clear_cases", "test_borderline_around_threshold", "test_judges_the_last_window",
            "test_arguments_and_short_runs"})},
    ),
    Submission(
        name="distinct_pixels",
        description="mode_collapsed counts distinct values (pixels or labels) instead of digits with a real share",
        edits=(Edit("collapse_answer",
                    "    labels = values if values.ndim == 1 else classify_digits(values)\n"
                    "    shares = np.bincount(labels.astype(int), minlength=10) / len(labels)\n"
                    "    return bool((shares >= min_share).sum() <= max_classes)",
                    "    return bool(len(np.unique(values)) <= max_classes)"),),
        expected_failures={"collapse_detector": frozenset({
            "test_counts_digits_with_a_real_share", "test_images", "test_arguments"})},
    ),
]
