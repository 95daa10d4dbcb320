"""The `ganlab` command line: help, training outputs, and errors on bad input."""
import json
import os
import subprocess
import sys

import pytest

from ganlab_kit.cli import build_parser, main


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ganlab_kit.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_help_lists_every_command():
    """Does `ganlab --help` list every command the README promises?"""
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "classifier", "score", "demo", "solutions"):
        assert command in result.stdout, f"`ganlab --help` does not mention {command!r}"


def test_each_command_has_help():
    """Does every sub-command answer --help without doing work?"""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    assert "train" in commands
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0


def test_train_writes_pngs_history_and_checkpoint(tmp_path):
    """Does `ganlab train` write the sample grid, the loss plot, the history and a checkpoint?"""
    out = tmp_path / "run"
    result = run_cli("train", "--model", "mlp", "--steps", "12", "--snapshot-every", "5",
                     "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    for name in ("samples.png", "losses.png", "history.json", "checkpoint.pt", "config.json"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing"
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == list(range(1, 13))
    assert all(0.0 <= value <= 1.0 for value in history["d_acc_real"])


def test_train_on_one_digit_dcgan(tmp_path):
    """Can the DCGAN be trained on a single digit from the command line?"""
    assert main(["train", "--model", "dcgan", "--digits", "8", "--steps", "3",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    assert json.loads((tmp_path / "config.json").read_text())["dataset"] == "mnist-offline[8]"


def test_train_a_recipe_writes_its_generator_and_scores(tmp_path, capsys):
    """Does `ganlab train --recipe dcgan` write the averaged generator, scores and samples?"""
    import torch

    from ganlab_kit.torch_gan.recipes import DCGAN_LATENT_DIM, generator_for_state

    assert main(["train", "--recipe", "dcgan", "--steps", "3", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps" in printed and "quality bar" in printed
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["recipe"] == "dcgan" and config["g_lr"] == 1e-3  # the recipe's settings
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert 1.0 <= scores["inception_score"] <= 10.0 and scores["n"] == 1000
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
    state = torch.load(tmp_path / "generator.pt", weights_only=True)
    assert generator_for_state(state).latent_dim == DCGAN_LATENT_DIM
    assert len(json.loads((tmp_path / "history.json").read_text())["step"]) == 3
    assert main(["score", str(tmp_path / "generator.pt")]) == 0  # scores as any checkpoint


def test_train_a_recipe_refuses_settings_it_would_ignore(tmp_path, capsys):
    """Are --g-lr or --digits next to --recipe refused with what to do instead?"""
    assert main(["train", "--recipe", "dcgan", "--g-lr", "0.01", "--digits", "8",
                 "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "--g-lr" in error and "--digits" in error and "--model dcgan" in error
    assert not (tmp_path / "generator.pt").exists()
    with pytest.raises(SystemExit) as exit_info:  # a recipe brings its own networks
        main(["train", "--recipe", "mlp", "--model", "dcgan"])
    assert exit_info.value.code == 2


def test_train_rejects_zero_steps(tmp_path, capsys):
    """Is --steps 0 refused with a message that says what to change?"""
    assert main(["train", "--steps", "0", "--out", str(tmp_path)]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(tmp_path):
    """Offline with no files: does `ganlab train --dataset cifar10` name the three ways to get data?"""
    result = run_cli("train", "--dataset", "cifar10", "--steps", "1", "--out", str(tmp_path),
                     env={"GANLAB_OFFLINE": "1", "GANLAB_DATA": str(tmp_path),
                          "KERAS_HOME": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "GANLAB_DATA" in result.stderr and "mnist-offline" in result.stderr
    assert "Traceback" not in result.stderr
