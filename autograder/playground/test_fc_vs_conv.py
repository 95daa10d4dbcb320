"""Problem 4: the fully connected model next to the convolutional one."""
import pytest



def _training(record):
    return (record["g_optimizer"], record["g_lr"], record["d_optimizer"], record["d_lr"],
            record["batch_size"], record["data"])


@pytest.mark.points(1)
def test_fully_connected_run(log):
    """Does the log hold a run of the Fully connected model (exactly as the Playground defines it) on MNIST for at least 10,000 examples?"""
    runs = [record for record in log.last_records() if log.is_preset(record, "Fully connected")]
    assert runs, ("no snapshot of the Fully connected model on MNIST in the log (G: FC 256, ReLU, "
                  "FC 784, Tanh, Reshape; D: Flatten, FC 128, ReLU, FC 2, Softmax)")
    best = max(record["examples"] for record in runs)
    assert best >= log.MIN_EXAMPLES, (f"the fully connected run reaches {best:,} examples; train it "
                                  f"to {log.MIN_EXAMPLES:,} or more")


@pytest.mark.points(1)
def test_same_training_as_a_convolutional_run(log):
    """Was the fully connected run trained like a convolutional run (same optimizers, learning rates, batch size, data), both for at least 10,000 examples?"""
    fully_connected = {_training(r) for r in log.trained(log.MIN_EXAMPLES) if log.is_preset(r, "Fully connected")}
    convolutional = {_training(r) for r in log.trained(log.MIN_EXAMPLES) if log.is_preset(r, "Convolutional")}
    assert fully_connected, f"no fully connected run of {log.MIN_EXAMPLES:,} examples or more to compare"
    assert fully_connected & convolutional, (
        "no convolutional run of 10,000 examples or more has the same optimizers, learning "
        "rates, batch size and data as your fully connected run; a fair comparison changes only "
        "the model")
