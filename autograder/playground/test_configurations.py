"""Problem 5: at least three configurations, with both learning-rate relations."""
import pytest



def _g_faster(log):
    return [r for r in log.trained(log.MIN_EXAMPLES) if r["g_lr"] > r["d_lr"]]


def _d_faster(log):
    return [r for r in log.trained(log.MIN_EXAMPLES) if r["d_lr"] > r["g_lr"]]


@pytest.mark.points(1)
def test_three_configurations(log):
    """Does the log hold at least three different configurations, each trained for at least 10,000 examples?"""
    count = len({log.configuration(record) for record in log.trained(log.MIN_EXAMPLES)})
    assert count >= 3, (f"the log holds {count} configuration(s) trained for {log.MIN_EXAMPLES:,} "
                        "examples or more with a snapshot; problem 5 asks for at least three")


@pytest.mark.points(1)
def test_generator_learns_faster(log):
    """Is there a run of at least 10,000 examples with G's learning rate greater than D's?"""
    assert _g_faster(log), ("no run of 10,000 examples or more has G's learning rate greater than "
                            "D's (G lr > D lr)")


@pytest.mark.points(1)
def test_discriminator_learns_faster(log):
    """Is there a run of at least 10,000 examples with D's learning rate greater than G's?"""
    assert _d_faster(log), ("no run of 10,000 examples or more has D's learning rate greater than "
                            "G's (D lr > G lr)")


@pytest.mark.points(1)
def test_same_models_both_ways(log):
    """Do a G-faster run and a D-faster run differ only in their learning rates (same models, data, batch size, optimizers)?"""
    g_faster = {log.models_and_training(record) for record in _g_faster(log)}
    d_faster = {log.models_and_training(record) for record in _d_faster(log)}
    assert g_faster and d_faster, "the log needs both a G-faster and a D-faster run of 10,000 examples or more"
    assert g_faster & d_faster, (
        "your G-faster and D-faster runs differ in more than the learning rates; keep the models, "
        "data, batch size and optimizers the same so that the learning rates explain the difference")
