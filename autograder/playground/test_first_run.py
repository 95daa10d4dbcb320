"""Problems 1 and 3: a convolutional run to 25,000 examples with its automatic snapshots."""
import pytest



def _convolutional_runs(log):
    return {run: records for run, records in log.runs().items()
            if log.is_preset(records[-1], "Convolutional")}


@pytest.mark.points(1)
def test_convolutional_run_to_25000(log):
    """Does the log hold a run of the Convolutional model on MNIST trained to at least 25,000 examples?"""
    runs = _convolutional_runs(log)
    assert runs, ("no snapshot of the Convolutional model (as the Playground starts) on MNIST in "
                  "the log; keep its layers as they are for this run")
    best = max(records[-1]["examples"] for records in runs.values())
    assert best >= log.FIRST_RUN_EXAMPLES, (
        f"the longest convolutional run in the log reaches {best:,} examples; train it to "
        f"{log.FIRST_RUN_EXAMPLES:,} or more (its snapshot at 25,000 is taken by itself)")


@pytest.mark.points(1)
def test_automatic_snapshots(log):
    """Does that run keep its automatic snapshots at 10,000 and 25,000 examples?"""
    for records in _convolutional_runs(log).values():
        batch = records[-1]["batch_size"]
        found = [any(mark <= record["examples"] < mark + batch and str(record.get("reason", "")).startswith("auto")
                     for record in records) for mark in log.AUTO_SNAPSHOTS]
        if all(found):
            return
    raise AssertionError(
        "no convolutional run in the log has both automatic snapshots (at 10,000 and 25,000 "
        "examples); train one run from the start (Reset) to 25,000 examples without changing it")
