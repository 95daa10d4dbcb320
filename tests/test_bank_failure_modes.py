"""The failure-modes lab against a bank of answers written the way real Keras GAN code is written.

Each entry rewrites one answer cell of the source notebook, the way public Keras GAN code
writes that piece, adapted only to the lab's names (the source of each is in its comment), or
as a typical slip. Valid answers must keep every point of their part; bugs must lose at least
one, with feedback that names what the check measured. A second test prints how many bugs of
each part the visible quick check already catches, with a message.
"""
import re

import pytest

from ganlab_kit.grading.notebook import find_cell, strip_hidden_tests
from ganlab_kit.grading.submissions import Edit
from lab_checks import (grade_cells, grade_in_order, lab_fixtures, namespace_with, quick_checks,
                        submissions_of)

pytestmark = pytest.mark.keras

ASSIGNMENT = "failure_modes"
source, parts, catalogue, reference_namespace = lab_fixtures(ASSIGNMENT)
PART_OF_CELL = {"pretrain_answer": "pretrain", "combined_answer": "combined", "turn_answer": "turn",
                "overpowering_answer": "overpowering_detector", "collapse_answer": "collapse_detector"}

# ---------------------------------------------------------------------------- the bank
# (name, answer cell, new solution body, "valid" or the check that must fail, phrase of its feedback)
PRETRAIN_TWO_CALLS = '''\
    # D updated on a half batch of real images, then of fakes, as in Brownlee's "train_discriminator"
    # (fenago/katacoda-scenarios, generative-adversarial-networks chapter 8)
    rng = np.random.default_rng(seed)
    latent_dim = generator.input_shape[-1]
    fixed_real = real_images[rng.integers(0, len(real_images), batch_size)]
    fixed_fake = generator.predict_on_batch(rng.normal(size=(batch_size, latent_dim)))
    before = discriminator_accuracy(discriminator, fixed_real, fixed_fake)
    discriminator.trainable = True
    for i in range({steps}):
        x_real = real_images[rng.integers(0, len(real_images), batch_size)]
        discriminator.train_on_batch(x_real, np.ones((batch_size, 1)))
        x_fake = generator.predict_on_batch(rng.normal(size=(batch_size, latent_dim)))
        discriminator.train_on_batch(x_fake, np.zeros((batch_size, 1)))
    after = discriminator_accuracy(discriminator, fixed_real, fixed_fake)
    return before, after
'''

COMBINED_SEQUENTIAL = '''\
    # Brownlee's define_gan (fenago/katacoda-scenarios, chapter 17): D frozen once, a Sequential stack
    discriminator.trainable = False
    model = keras.Sequential()
    model.add(generator)
    model.add(discriminator)
    opt = keras.optimizers.Adam({learning_rate}, beta_1={beta_1})
    model.compile(loss="binary_crossentropy", optimizer=opt)
    return model
'''

COMBINED_FUNCTIONAL_FROZEN = '''\
    # eriklindernoren/Keras-GAN gan/gan.py: "For the combined model we will only train the generator"
    z = keras.Input(shape=(generator.input_shape[1],))
    img = generator(z)
    discriminator.trainable = False
    validity = discriminator(img)
    combined = keras.Model(z, validity)
    combined.compile(loss="binary_crossentropy", optimizer={optimizer})
    return combined
'''

COMBINED_COMPILES_D = '''\
    # a GAN class compiling D inside the stack's builder, then freezing it (the "stacked" pattern of
    # several public Keras GANs); in Keras 3 D's next train step is traced frozen
    discriminator.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    discriminator.trainable = False
    stacked_input = keras.Input(generator.input_shape[1:])
    stacked = keras.Model(stacked_input, discriminator(generator(stacked_input)))
    stacked.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1), loss="binary_crossentropy")
    return stacked
'''

TURN_TEXTBOOK = '''\
    # eriklindernoren/Keras-GAN gan/gan.py: D first, real and fake half batches in two calls,
    # d_loss = 0.5 * np.add(...), then G through the combined model; flags as in {flags}
    batch_size = len(real_images)
    valid = np.ones((batch_size, 1))
    fake = np.zeros((batch_size, 1))
    gen_imgs = generator.predict_on_batch(noise)
{d_flag}    d_loss_real = discriminator.train_on_batch(real_images, valid)
    d_loss_fake = discriminator.train_on_batch(gen_imgs, fake)
    d_loss = 0.5 * np.add(d_loss_real, d_loss_fake)
{g_flag}    g_loss = combined.train_on_batch(noise, valid)
    return {{"g_loss": float(g_loss), "d_loss": float(d_loss[0]), "d_acc": float(d_loss[1])}}
'''

TURN_SEED_ORDER_TWO_CALLS = '''\
    # alfandra007/KB3C chapter 8: trainable flags set around each call, D on real and fake batches
    # separately, d_loss = 0.5 * np.add(loss_real, loss_fake)
    discriminator.trainable = False
    g_loss = combined.train_on_batch(noise, np.ones((len(noise), 1)))
    discriminator.trainable = True
    gen = generator.predict_on_batch(noise)
    loss_real = discriminator.train_on_batch(real_images, np.ones((len(real_images), 1)))
    loss_fake = discriminator.train_on_batch(gen, np.zeros((len(gen), 1)))
    d_loss = 0.5 * np.add(loss_real, loss_fake)
    return dict(g_loss=float(g_loss), d_loss=float(d_loss[0]), d_acc=float(d_loss[1]))
'''

OVERPOWER = '''\
    recent = history["d_acc"][-{window}:]
    return {expression}
'''

COLLAPSE_COUNTER = '''\
    from collections import Counter
    values = np.asarray(images_or_labels)
    labels = values if values.ndim == 1 else classify_digits(values)
    counts = Counter(int(label) for label in labels)
    produced = [digit for digit, count in counts.items() if count / len(labels) {compare} min_share]
    return len(produced) <= max_classes
'''

BANK = [
    # pre-training
    ("pretrain: two half-batch calls per step (Brownlee)", "pretrain_answer",
     PRETRAIN_TWO_CALLS.format(steps="steps"), "valid", None),
    ("pretrain: a fixed 4 steps (Brownlee's n_iter default kept)", "pretrain_answer",
     PRETRAIN_TWO_CALLS.format(steps="4"), "test_raises_accuracy", "called discriminator.train_on_batch 8 times"),
    # the combined model
    ("combined: Sequential, D frozen once (Brownlee)", "combined_answer",
     COMBINED_SEQUENTIAL.format(learning_rate="learning_rate", beta_1="beta_1"), "valid", None),
    ("combined: functional, D frozen once (Keras-GAN)", "combined_answer",
     COMBINED_FUNCTIONAL_FROZEN.format(optimizer="keras.optimizers.Adam(learning_rate, beta_1)"), "valid", None),
    ("combined: Adam(0.0002, 0.5) hard-coded (Brownlee)", "combined_answer",
     COMBINED_SEQUENTIAL.format(learning_rate="0.0002", beta_1="0.5"), "test_trains_generator_towards_real",
     "optimizer='adam' ignores the learning"),
    ("combined: optimizer='adam' (Keras-GAN's string)", "combined_answer",
     COMBINED_FUNCTIONAL_FROZEN.format(optimizer='"adam"'), "test_trains_generator_towards_real",
     "moved G's weights by up to"),
    ("combined: D compiled in the builder, then frozen", "combined_answer", COMBINED_COMPILES_D,
     "test_discriminator_still_learns_on_its_own", "compiling D again"),
    # the turn
    # Keras-GAN's loop as it is: D frozen once, no flags in the loop, D on half batches. In Keras 3
    # D's step is traced again for a batch size it has not seen (pre-training used 2B images), and
    # the flag is False then: D never learns in the lab's flow (measured, docs/lab_failure_modes.md)
    ("turn: D first, two half-batch calls, Keras 2 flags (Keras-GAN)",
     (("combined_answer", COMBINED_FUNCTIONAL_FROZEN.format(optimizer="keras.optimizers.Adam(learning_rate, beta_1)")),
      ("turn_answer", TURN_TEXTBOOK.format(flags="Keras-GAN (none in the loop)", d_flag="", g_flag=""))),
     None, "test_discriminator_learns_on_its_step", "traces D's train step again"),
    ("turn: D first, two calls, flags around each call", "turn_answer",
     TURN_TEXTBOOK.format(flags="Keras 3", d_flag="    discriminator.trainable = True\n",
                          g_flag="    discriminator.trainable = False\n"), "valid", None),
    ("turn: G first, flags, two D calls (KB3C)", "turn_answer", TURN_SEED_ORDER_TWO_CALLS, "valid", None),
    ("turn: d_loss and d_acc unpacked swapped", "turn_answer",
     TURN_SEED_ORDER_TWO_CALLS.replace('d_loss=float(d_loss[0]), d_acc=float(d_loss[1])',
                                       'd_loss=float(d_loss[1]), d_acc=float(d_loss[0])'),
     "test_returns_losses_and_accuracy", "swapped"),
    ("turn: G's step never freezes D (flag left True)", "turn_answer",
     TURN_TEXTBOOK.format(flags="none", d_flag="    discriminator.trainable = True\n", g_flag=""),
     "test_discriminator_frozen_in_generator_step", "also changed D"),
    # the detectors
    ("overpowers: list slice and sum / len", "overpowering_answer",
     OVERPOWER.format(window="window", expression="sum(recent) / len(recent) >= accuracy_threshold if recent else False"),
     "valid", None),
    ("overpowers: np.mean, a NumPy bool", "overpowering_answer",
     OVERPOWER.format(window="window", expression="np.mean(recent) >= accuracy_threshold"), "valid", None),
    ("overpowers: a fixed window of 100", "overpowering_answer",
     OVERPOWER.format(window="100", expression="np.mean(recent) >= accuracy_threshold"),
     "test_arguments_and_short_runs", "Use the `window` argument"),
    ("overpowers: > where the text says at least", "overpowering_answer",
     OVERPOWER.format(window="window", expression="np.mean(recent) > accuracy_threshold"),
     "test_borderline_around_threshold", "compare with >=, not >"),
    ("overpowers: the whole run's mean", "overpowering_answer",
     OVERPOWER.format(window="window", expression="np.mean(history['d_acc']) >= accuracy_threshold"),
     "test_judges_the_last_window", "Judge the last `window` turns"),
    ("collapsed: collections.Counter", "collapse_answer", COLLAPSE_COUNTER.format(compare=">="), "valid", None),
    ("collapsed: > min_share where the text says at least", "collapse_answer",
     COLLAPSE_COUNTER.format(compare=">"), "test_counts_digits_with_a_real_share", "exactly 5%"),
]


def reference_body(cell_id):
    """The reference solution between ### BEGIN SOLUTION and ### END SOLUTION of an answer cell."""
    text = strip_hidden_tests(find_cell(source_notebook(), cell_id).source)
    return re.search(r"### BEGIN SOLUTION\n(.*?)    ### END SOLUTION", text, re.S).group(1)


_SOURCE = []


def source_notebook():
    if not _SOURCE:
        from lab_checks import source_notebook as path_of
        from ganlab_kit.grading.notebook import read_notebook

        _SOURCE.append(read_notebook(path_of(ASSIGNMENT)))
    return _SOURCE[0]


def edits_of(cell_id, body):
    """The edits of a bank entry: one answer cell rewritten, or several ((cell, body), ...) whose
    last one is the part under test."""
    pairs = cell_id if isinstance(cell_id, tuple) else ((cell_id, body),)
    return [Edit(cell, reference_body(cell), text) for cell, text in pairs]


def part_of(cell_id):
    return PART_OF_CELL[cell_id[-1][0] if isinstance(cell_id, tuple) else cell_id]


@pytest.fixture(scope="module")
def bank_results(source, parts):
    """name -> (its part's result, graded where the grade cell stands), for every bank entry."""
    results = {}
    for name, cell_id, body, _, _ in BANK:
        part = part_of(cell_id)
        results[name] = grade_in_order(ASSIGNMENT, source, edits_of(cell_id, body), [part])[part]
    return results


def test_bank_bugs_caught_and_valid_kept(bank_results, capsys):
    """Does every valid answer of the bank keep every point of its part, and every bug lose the
    point of the check written for it, with feedback naming what was measured? Prints bugs caught /
    valid kept."""
    caught = kept = 0
    wrong = []
    for name, cell_id, _, expected, phrase in BANK:
        result = bank_results[name]
        if expected == "valid":
            ok = not result.failed_checks
            kept += ok
        else:
            feedback = next((c.feedback for c in result.checks if c.name == expected), "")
            ok = expected in result.failed_checks and phrase in (feedback or "")
            caught += ok
        if not ok:
            wrong.append((name, sorted(result.failed_checks),
                          [c.feedback[:300] for c in result.checks if not c.passed]))
    bugs = sum(expected != "valid" for *_, expected, _ in BANK)
    with capsys.disabled():
        print(f"\nfailure_modes bank: bugs caught {caught} / {bugs}, valid kept {kept} / {len(BANK) - bugs}")
    assert not wrong, wrong


#: The quick checks of the parts that train networks, each on the networks the ones above it made
#: (in the notebook's order, D's first step traced trainable in pre-training), and the detector
#: parts, whose quick checks call only their own function on fixed lists and the setup's digits:
#: a detector's bug is judged without training the networks first (most of this test's time).
TRAINING_CHECKS = ("pretrain_checks", "combined_checks", "turn_checks")
DETECTORS = ("overpowering_detector", "collapse_detector")


def test_quick_checks_catch_the_known_bugs(source, capsys, tmp_path, monkeypatch):
    """For each part, what share of its known bugs (the bank's bugs, the demo mistakes and the
    test mutants of tests/test_lab_failure_modes.py) does the visible quick check catch, with a
    message? Printed per part; every one of them in every part, and no valid answer flagged."""
    from test_lab_failure_modes import MUTANTS

    monkeypatch.chdir(tmp_path)
    quick = quick_checks(source, ASSIGNMENT)
    quick.pop("runs_checks")  # reads the saved runs: test_lab_failure_modes.py grades them
    cell_of = {part: grade_id for grade_id, part in grade_cells(source, ASSIGNMENT).items()}
    bugs = [(name, part_of(cell_id), edits_of(cell_id, body))
            for name, cell_id, body, expected, _ in BANK if expected != "valid"]
    bugs += [(name, part, submission.edits) for name, submission in submissions_of(ASSIGNMENT).items()
             if submission.edits and isinstance(submission.expected_failures, dict)
             for part in submission.expected_failures]
    bugs += [(f"{part}/{check}", part, edits) for (part, check), edits in MUTANTS.items()
             if not isinstance(edits, tuple)]
    valid = [(name, part_of(cell_id), edits_of(cell_id, body))
             for name, cell_id, body, expected, _ in BANK if expected == "valid"]

    def message(part, edits):
        namespace = namespace_with(source, edits)
        for grade_id, code in quick.items():   # in notebook order: later checks use earlier names
            if part in DETECTORS and grade_id in TRAINING_CHECKS:
                continue   # a detector's quick check uses only its function and the digits
            try:
                exec(compile(code, grade_id, "exec"), namespace)
            except Exception as error:  # an assertion or an error the student's code raised
                if grade_id == cell_of[part]:
                    return f"{type(error).__name__}: {error}"
            if grade_id == cell_of[part]:
                return None   # the part's own check passed; the checks below it cannot change that
        return None

    caught, total, missed, flagged = {}, {}, [], []
    for name, part, edits in bugs:
        total[part] = total.get(part, 0) + 1
        text = message(part, edits)
        if text and len(text) > 40:
            caught[part] = caught.get(part, 0) + 1
        else:
            missed.append(name)
    for name, part, edits in valid:
        if message(part, edits):
            flagged.append(name)
    with capsys.disabled():
        print("\nfailure_modes quick-check catch rate per part (bank bugs + demo mistakes + test mutants):")
        for part in sorted(total):
            print(f"  {part:<22}{caught.get(part, 0):2d} / {total[part]:2d}")
        print(f"  missed: {sorted(missed) or 'none'}; valid answers flagged: {flagged or 'none'}")
    assert not flagged
    assert not missed
