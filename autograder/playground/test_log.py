"""The experiment log and its snapshots: present, unchanged, and belonging together."""
import pytest


@pytest.mark.points(1)
def test_log_readable(log):
    """Is there an experiment log next to the notebook whose every line is a complete snapshot record?"""
    assert not log.line_problems, (
        "; ".join(log.line_problems[:3]) + ". Hand in playground_log.jsonl as the Playground wrote it")
    assert log.records, "the experiment log is empty: take snapshots in the Playground"


@pytest.mark.points(1)
def test_snapshots_present(log):
    """Is every snapshot PNG the log names handed in, unchanged?"""
    assert log.records, "there is no experiment log with snapshots to check"
    missing = [problem for problem in log.problems.values()
               if problem is not None and ("missing" in problem or "not the picture" in problem)]
    assert not missing, "; ".join(missing[:3]) + ". Hand in every playground_*.png next to the notebook"


@pytest.mark.points(1)
def test_log_matches_snapshots(log):
    """Does each snapshot PNG carry the run, entry and examples of its own log line?"""
    assert log.records, "there is no experiment log with snapshots to check"
    wrong = [problem for problem in log.problems.values()
             if problem is not None and "missing" not in problem and "not the picture" not in problem]
    assert not wrong, ("; ".join(wrong[:3]) + ". The log must stay as the Playground wrote it: "
                       "do not edit it by hand")
    indices = [record["index"] for record in log.records]
    assert len(set(indices)) == len(indices), "two log lines share an entry number: was a log pasted twice?"
