"""Hidden checks: dis_optimizer and gan_optimizer (Keras 3 Adam settings)."""
import numpy as np
import pytest

from ganlab_kit.grading.remote import RemoteError


def _settings(nb, kg, name):
    optimizer = kg.call_student(nb[name], what=f"{name}()")
    assert kg.is_keras(nb, optimizer, "Adam"), (
        f"{name}() should return keras.optimizers.Adam(...), got "
        f"{nb.type_name(optimizer).rsplit('.', 1)[-1]}.")
    return optimizer.get_config()


def _close(value, wanted):
    return isinstance(value, (int, float)) and abs(float(value) - wanted) <= 1e-9 + 1e-6 * wanted


@pytest.mark.points(1)
def test_adam(nb, kg):
    """Do dis_optimizer() and gan_optimizer() each return a Keras Adam optimizer, a new one at
    every call (Keras 3 lets one optimizer object train only the first model it meets)?"""
    _settings(nb, kg, "dis_optimizer")
    _settings(nb, kg, "gan_optimizer")
    for name in ("dis_optimizer", "gan_optimizer"):
        models = [nb.new(f"{kg.LAB}:build_optimizer_probe", kg.call_student(nb[name], what=f"{name}()"))
                  for _ in range(2)]
        images = np.random.default_rng(0).uniform(-1, 1, (4, kg.IMAGE_DIM)).astype(np.float32)
        try:
            for model in models:
                kg.train_on_batch(nb, model, images, np.ones((4, 1), np.float32))
        except RemoteError as error:
            raise AssertionError(
                f"two models compiled with two calls of {name}() cannot both train ({str(error)[:160]}...): "
                f"{name}() returns the same optimizer object every time. Create it inside the function "
                "(return keras.optimizers.Adam(...)): in Keras 3 an optimizer trains only the first "
                "model it meets, so the dropout ablation would crash.") from None


@pytest.mark.points(1)
def test_discriminator_settings(nb, kg):
    """Does dis_optimizer() use learning rate 0.0002, beta_1 0.5 and beta_2 0.999?"""
    config = _settings(nb, kg, "dis_optimizer")
    assert _close(config.get("learning_rate"), 0.0002), (
        f"dis_optimizer has learning rate {config.get('learning_rate')}; use learning_rate=0.0002 "
        "(the discriminator takes the smaller steps).")
    assert _close(config.get("beta_1"), 0.5) and _close(config.get("beta_2"), 0.999), (
        f"dis_optimizer has beta_1={config.get('beta_1')}, beta_2={config.get('beta_2')}; use "
        "beta_1=0.5 (less momentum on a moving target) and beta_2=0.999.")


@pytest.mark.points(1)
def test_gan_settings(nb, kg):
    """Does gan_optimizer() use learning rate 0.001, beta_1 0.5 and beta_2 0.999?"""
    config = _settings(nb, kg, "gan_optimizer")
    assert _close(config.get("learning_rate"), 0.001), (
        f"gan_optimizer has learning rate {config.get('learning_rate')}; use learning_rate=0.001, "
        "higher than the discriminator's so that the generator keeps up.")
    assert _close(config.get("beta_1"), 0.5) and _close(config.get("beta_2"), 0.999), (
        f"gan_optimizer has beta_1={config.get('beta_1')}, beta_2={config.get('beta_2')}; use "
        "beta_1=0.5 and beta_2=0.999: with the default momentum 0.9 the generator collapses "
        "to one image within the first hundred steps.")
