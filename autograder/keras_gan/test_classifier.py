"""Hidden checks: predicted_classes and classifier_accuracy against NumPy on fixed inputs."""
import numpy as np
import pytest


def _cases():
    """Probability tables: (12, 10) (more images than digits), (10, 10) (as many) and (3, 10) (2 of 3 right:
    a float32 share 0.6666667 is right too), rows sum to 1."""
    rng = np.random.default_rng(11)
    cases = []
    for images in (12, 10):
        probabilities = rng.dirichlet(np.full(10, 0.3), size=images).astype(np.float32)
        labels = rng.integers(0, 10, images)
        labels[: images // 2] = probabilities[: images // 2].argmax(axis=1)  # about half right
        cases.append((probabilities, labels))
    probabilities = np.eye(10, dtype=np.float32)[[3, 1, 4]] * 0.9 + 0.01  # three images, two labelled right
    cases.append((probabilities, np.array([3, 1, 5])))
    return cases


@pytest.mark.points(1)
def test_predicted_classes(nb):
    """Does predicted_classes give the most probable digit of each row (image)?"""
    for probabilities, _ in _cases():
        predicted = np.asarray(nb.predicted_classes(probabilities)).reshape(-1)
        expected = probabilities.argmax(axis=1)
        assert predicted.shape == expected.shape and np.array_equal(predicted, expected), (
            f"for probabilities of shape {probabilities.shape} (one row per image), predicted_classes "
            f"gave {predicted.tolist()}, expected {expected.tolist()}; take the argmax along axis 1, the "
            "ten digits of each image, not along axis 0.")


@pytest.mark.points(1)
def test_accuracy(nb):
    """Does classifier_accuracy give the share of images whose most probable digit equals the label?"""
    for probabilities, labels in _cases():
        accuracy = nb.classifier_accuracy(probabilities, labels.tolist())
        expected = float(np.mean(probabilities.argmax(axis=1) == labels))
        assert isinstance(accuracy, (int, float, np.floating)) and abs(float(accuracy) - expected) < 1e-6, (
            f"classifier_accuracy gave {accuracy!r} for {len(labels)} images with {int(expected * len(labels))} "
            f"correct predictions; expected {expected:.4f}, a share between 0 and 1 of the rows' argmax "
            "(axis 1) equal to the labels.")
