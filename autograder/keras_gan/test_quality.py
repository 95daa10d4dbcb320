"""Hidden checks: the quality of the submitted generator.weights.h5, judged by the kit's classifier.

The file is read with h5py (never a Keras loader: it could run code), its arrays go into
the lab's architecture rebuilt here in NumPy, and the kit's classifier scores 1,000
samples. The thresholds sit below the worst of the calibration seeds of the notebook's
own training (quality_calibration.json, from calibrate_quality.py), so a correct solution
trained as the notebook says passes whatever its seed.

"""
import pytest

from ganlab_kit.keras_gan.lab_weights import LAB_LEAKY_SLOPE, WeightsFileError, load_lab_generator
from ganlab_kit.scoring import generate_images, score_images

FILE = "generator.weights.h5"
SAMPLES = 1000                   # images scored
SEED = 0                         # noise seed: the same submission always gets the same score
MIN_INCEPTION_SCORE = 3.5        # worst calibration seed at 2,000 steps: 4.78
MIN_COVERAGE = 6                 # digits holding at least 3% of the samples; worst seed: 8
MIN_CONFIDENT_RATE = 0.35        # share the classifier is >= 90% sure of; worst seed: 0.485
MIN_COVERAGE_FOR_CONFIDENCE = 5  # below this the confident share is no evidence of quality


def _leaky_slope(nb, kg):
    """The student's LeakyReLU slope (their weights were trained with it); the lab's 0.2 otherwise."""
    try:
        stack = kg.dense_stack(kg.keras_layers(nb, nb.create_generator()))
        slopes = {name.split(":", 1)[1] for layer in stack[:-1] for name in layer["activations"]
                  if name.startswith("leaky_relu:")}
        return float(slopes.pop()) if len(slopes) == 1 else LAB_LEAKY_SLOPE
    except Exception:  # a broken create_generator is graded in its own part
        return LAB_LEAKY_SLOPE


@pytest.fixture(scope="module")
def trained_generator(nb, kg):
    path = nb.path(FILE)
    assert path.is_file(), (
        f"there is no {FILE} next to the notebook: run the training cell of Part 1 (it saves your "
        f"trained generator there) and hand in {FILE} with the notebook.")
    try:
        return load_lab_generator(path, leaky_slope=_leaky_slope(nb, kg))
    except WeightsFileError as error:
        raise AssertionError(
            f"{FILE} does not hold the lab's generator ({error}); save it with "
            f"generator.save_weights({FILE!r}) from create_generator()'s model.") from None


MIN_BACKGROUND = 0.4             # share of dark pixels (< -0.8) below which samples are blobs, not strokes;
                                 # real digits: about 0.8, the lab's generator after 200 steps: over 0.6


@pytest.fixture(scope="module")
def scores(trained_generator):
    images = generate_images(trained_generator, n=SAMPLES, seed=SEED).clamp(-1.0, 1.0)
    scores = score_images(images, reference=None)
    scores.background_share = float((images < -0.8).float().mean())
    return scores


def _cause(scores):
    """What the measured scores say is wrong, for the feedback: blobs (barely trained) or one digit
    drawn over and over (mode collapse)."""
    if scores.background_share < MIN_BACKGROUND:
        return (f"Your samples are grey blobs, not strokes on a dark ground: only {scores.background_share:.0%} "
                "of their pixels are dark background (real digits: about 80%). The generator is barely "
                "trained: train it for the notebook's TRAINING_STEPS and save it again.")
    return ("Your samples are strokes, but of few digits: mode collapse (the generator found a few images "
            "that fool D). Look at the sample grids and D's accuracy, and train again (another seed).")


@pytest.mark.points(1)
def test_weights_file_loads(trained_generator):
    """Does generator.weights.h5 exist next to the notebook and hold the lab's generator?"""


@pytest.mark.points(1)
def test_inception_score(scores):
    """Are the samples recognisable and varied (inception score of 1,000 samples high enough)?"""
    assert scores.inception_score >= MIN_INCEPTION_SCORE, (
        f"the classifier's inception score of your samples is {scores.inception_score:.2f}; a trained "
        f"generator reaches at least {MIN_INCEPTION_SCORE}. " + _cause(scores))


@pytest.mark.points(1)
def test_coverage(scores):
    """Does the generator make most digits, not only a few (mode collapse)?"""
    assert scores.coverage >= MIN_COVERAGE, (
        f"only {scores.coverage} of 10 digits make up at least 3% of your samples (covered: "
        f"{list(scores.covered_classes)}); a trained generator covers at least {MIN_COVERAGE}. " + _cause(scores))


@pytest.mark.points(1)
def test_confident_rate(scores):
    """Does the classifier recognise enough samples with confidence (top probability >= 0.9)?"""
    assert scores.coverage >= MIN_COVERAGE_FOR_CONFIDENCE, (
        f"the classifier puts nearly all your samples in {list(scores.covered_classes)}; its "
        "confidence says little about images that are all alike. " + _cause(scores))
    assert scores.confident_rate >= MIN_CONFIDENT_RATE, (
        f"the classifier is sure about {scores.confident_rate:.0%} of your samples; a trained "
        f"generator reaches {MIN_CONFIDENT_RATE:.0%}. Blurry or broken digits lower this share.")
