"""Hidden checks: the quality of the submitted generator.pt, judged by the kit's classifier.

The thresholds sit well below the worst of five seeds of the lab's own training cell with the
reference answers (quality_calibration.json, from calibrate_quality.py; G at 1e-3, D at 2e-4
without dropout, an average of G's weights): after the notebook's 4,000 steps inception score
8.09 to 8.27, all 10 digits, 78.9% to 81.1% confident (four of the five seeds at the kit's
"recognisable" bar). A correct solution trained as the notebook says passes whatever its seed (also one
stopped 1,000 steps early: 7.79 to 8.00 and 75% to 79% at 3,000 steps); noise, blobs or a generator that draws
only a few digits do not.
"""
import pytest

from ganlab_kit.grading.safe_load import load_by_order, load_tensors
from ganlab_kit.scoring import generate_images, score_images
from ganlab_kit.torch_gan import MLPGenerator

SAMPLES = 1000                   # images scored
SEED = 0                         # noise seed: the same submission always gets the same score
MIN_INCEPTION_SCORE = 7.0        # worst calibration seed at 4,000 steps: 8.09
MIN_COVERAGE = 9                 # digits holding at least 3% of the samples; worst seed: 10
MIN_CONFIDENT_RATE = 0.65        # share the classifier is >= 90% sure of; worst seed: 0.789
MIN_COVERAGE_FOR_CONFIDENCE = 5  # below this the confident share is no evidence of quality


@pytest.fixture(scope="module")
def trained_generator(nb):
    path = nb.path("generator.pt")
    assert path.is_file(), (
        "there is no generator.pt next to the notebook: run the training cell (it saves your "
        "trained generator there) and hand in generator.pt with the notebook.")
    generator = MLPGenerator()  # the lab's architecture, with the student's weights, scored here
    try:
        load_by_order(generator, load_tensors(path))
    except Exception as error:  # a student's file: report, do not crash
        raise AssertionError(
            "generator.pt does not hold the lab's generator weights (100 -> 256 -> 512 -> 1024 "
            f"-> 784); save them with torch.save(generator.state_dict(), 'generator.pt'). ({error})") from None
    return generator.eval()


@pytest.fixture(scope="module")
def scores(trained_generator):
    images = generate_images(trained_generator, n=SAMPLES, seed=SEED)
    return score_images(images.clamp(-1.0, 1.0), reference=None)


@pytest.mark.points(1)
def test_checkpoint_loads(trained_generator):
    """Does generator.pt exist next to the notebook and load into Generator()?"""


@pytest.mark.points(1)
def test_inception_score(scores):
    """Are the samples recognisable and varied (inception score of 1,000 samples high enough)?"""
    assert scores.inception_score >= MIN_INCEPTION_SCORE, (
        f"the classifier's inception score of your samples is {scores.inception_score:.2f}; a "
        f"trained generator reaches at least {MIN_INCEPTION_SCORE}. Train longer, or look at the "
        "dashboard for a collapse.")


@pytest.mark.points(1)
def test_coverage(scores):
    """Does the generator make most digits, not only a few (mode collapse)?"""
    assert scores.coverage >= MIN_COVERAGE, (
        f"only {scores.coverage} of 10 digits make up at least 3% of your samples (covered: "
        f"{list(scores.covered_classes)}); a trained generator covers at least {MIN_COVERAGE}. "
        "Producing few digits is mode collapse.")


@pytest.mark.points(1)
def test_confident_rate(scores):
    """Does the classifier recognise enough samples with confidence (top probability >= 0.9)?"""
    assert scores.coverage >= MIN_COVERAGE_FOR_CONFIDENCE, (
        f"the classifier puts nearly all your samples in {list(scores.covered_classes)}; its "
        "confidence says little about images that are all alike (even an untrained generator's "
        "grey blobs look like an 8 to it). Train until the generator draws different digits.")
    assert scores.confident_rate >= MIN_CONFIDENT_RATE, (
        f"the classifier is sure about {scores.confident_rate:.0%} of your samples; a trained "
        f"generator reaches {MIN_CONFIDENT_RATE:.0%}. Blurry or broken digits lower this share.")
