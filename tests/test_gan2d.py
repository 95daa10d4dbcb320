"""The 2-D GAN view (GAN Lab style), headless: the numbers of each view against independent
oracles, one-network steps, settings, Play / Pause, the widget driven by clicks and values."""
import io
import math

import numpy as np
import pytest
import torch

from ganlab_kit.config import LOSSES
from ganlab_kit.data import TOY_DISTRIBUTIONS, toy_2d
from ganlab_kit.torch_gan.losses import generator_loss
from ganlab_kit.torch_gan.trainer import Trainer
from ganlab_kit.widgets.gan2d_state import (GAN2DSession, GAN2DSettings, discriminator_heatmap,
                                            fake_point_gradients, manifold_grid, noise_grid,
                                            toy_discriminator, toy_generator)


def weights(module):
    return [p.detach().clone() for p in module.parameters()]


def same(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.fixture
def session():
    session = GAN2DSession(GAN2DSettings(dataset="ring", batch_size=64), resolution=24, fakes=40)
    yield session
    session.pause()


# --------------------------------------------------------------------------- the views' numbers

def test_heatmap_equals_d_on_the_grid(session):
    """Is heat[i, j] D's probability sigmoid(D(x)) at the point (xs[j], ys[i]), computed one
    point at a time?"""
    session.train(30)
    view = session.view()
    assert view.heatmap.shape == (len(view.ys), len(view.xs)) == (24, 24)
    discriminator = session.discriminator
    for i in (0, 5, 17, 23):
        for j in (0, 3, 12, 23):
            point = torch.tensor([[float(view.xs[j]), float(view.ys[i])]])
            with torch.no_grad():
                expected = float(torch.sigmoid(discriminator(point)))
            assert view.heatmap[i, j] == pytest.approx(expected, abs=1e-6)
    assert 0.0 <= view.heatmap.min() and view.heatmap.max() <= 1.0


def test_heatmap_rows_follow_y_on_a_non_square_grid():
    """With a D that only looks at x, is every row of the heat map the same and increasing along x,
    for a grid with more columns than rows?"""
    discriminator = torch.nn.Linear(2, 1)
    with torch.no_grad():
        discriminator.weight.copy_(torch.tensor([[2.0, 0.0]]))
        discriminator.bias.zero_()
    xs, ys = torch.linspace(-2, 2, 7), torch.linspace(-1, 1, 3)
    heat = discriminator_heatmap(discriminator, xs, ys)
    assert heat.shape == (3, 7)
    assert torch.allclose(heat, heat[0].expand(3, 7))
    assert torch.all(heat[0, 1:] > heat[0, :-1])


@pytest.mark.parametrize("loss", LOSSES)
def test_arrows_equal_autograd_gradients(session, loss):
    """Is the arrow of each fake point the gradient of G's batch loss with respect to that point,
    as autograd gives it for the point on its own (divided by the batch size, the loss is a mean)?"""
    session.train(20)
    session.set_loss(loss)
    view = session.view()
    discriminator = session.discriminator
    assert view.gradients.shape == view.fake.shape == (40, 2)
    for index in (0, 7, 39):
        point = torch.tensor(view.fake[index:index + 1], requires_grad=True)
        generator_loss(discriminator(point), loss, from_logits=True).backward()
        expected = point.grad[0].numpy() / len(view.fake)
        assert np.allclose(view.gradients[index], expected, rtol=1e-4, atol=1e-9)


def test_arrows_match_finite_differences():
    """Does the non-saturating gradient agree with a central finite difference of the batch loss?"""
    torch.manual_seed(3)
    discriminator = toy_discriminator().double()
    points = torch.randn(5, 2, dtype=torch.float64)
    gradient = fake_point_gradients(discriminator.float(), points.float(), "non_saturating").double()
    discriminator = discriminator.double()

    def loss_at(p):
        with torch.no_grad():
            return float(generator_loss(discriminator(p), "non_saturating", from_logits=True))

    epsilon = 1e-5
    for index, axis in ((0, 0), (2, 1), (4, 0)):
        up, down = points.clone(), points.clone()
        up[index, axis] += epsilon
        down[index, axis] -= epsilon
        numeric = (loss_at(up) - loss_at(down)) / (2 * epsilon)
        assert float(gradient[index, axis]) == pytest.approx(numeric, rel=1e-3, abs=1e-7)


def test_arrows_leave_d_and_the_points_alone():
    """Does computing the arrows leave D's weights and gradients and the fake points unchanged?"""
    torch.manual_seed(0)
    discriminator = toy_discriminator()
    points = torch.randn(6, 2)
    copy, before = points.clone(), weights(discriminator)
    fake_point_gradients(discriminator, points, "minimax")
    assert torch.equal(points, copy) and not points.requires_grad
    assert same(before, discriminator)
    assert all(p.grad is None for p in discriminator.parameters())


def test_manifold_is_g_on_the_noise_grid(session):
    """Is the manifold G applied to the noise plane's grid, entry [i, j] = G((u[j], v[i]))?"""
    grid = noise_grid(5, 2.0)
    assert grid[0, 0].tolist() == [-2.0, -2.0] and grid[0, 4].tolist() == [2.0, -2.0]
    assert grid[4, 0].tolist() == [-2.0, 2.0]
    generator = session.generator
    manifold = manifold_grid(generator, 5, 2.0)
    with torch.no_grad():
        expected = generator(torch.tensor([[2.0, -1.0]]))[0].numpy()
    assert np.allclose(manifold[1, 4], expected, atol=1e-6)


def test_fakes_are_g_of_the_fixed_noise(session):
    """Are the fake points on view G(fixed noise), the same noise after training?"""
    noise = session.fixed_noise.clone()
    session.train(5)
    view = session.view()
    with torch.no_grad():
        assert np.allclose(view.fake, session.generator(noise).numpy(), atol=1e-6)
    assert torch.equal(session.fixed_noise, noise)


# --------------------------------------------------------------------------- steps

def test_step_g_moves_only_g(session):
    """Does Step G change G's weights and leave D's weights and D's optimizer untouched?"""
    g_before, d_before = weights(session.generator), weights(session.discriminator)
    d_state = {k: dict(v) for k, v in session.trainer.d_optimizer.state_dict()["state"].items()}
    session.step_generator()
    assert not same(g_before, session.generator)
    assert same(d_before, session.discriminator)
    assert session.trainer.d_optimizer.state_dict()["state"].keys() == d_state.keys()
    assert (session.d_updates, session.g_updates) == (0, 1)
    assert all(p.requires_grad for p in session.discriminator.parameters())


def test_step_d_moves_only_d(session):
    """Does Step D change D's weights and leave G's weights untouched?"""
    g_before, d_before = weights(session.generator), weights(session.discriminator)
    session.step_discriminator()
    assert same(g_before, session.generator)
    assert not same(d_before, session.discriminator)
    assert (session.d_updates, session.g_updates) == (1, 0)


def test_step_both_runs_k_d_updates_then_one_g_update(session):
    """Does Step both with k = 3 update D three times (Adam's step count) and G once?"""
    session.set_d_steps(3)
    g_before = weights(session.generator)
    session.step_both()
    d_steps = [s["step"] for s in session.trainer.d_optimizer.state_dict()["state"].values()]
    g_steps = [s["step"] for s in session.trainer.g_optimizer.state_dict()["state"].values()]
    assert {float(s) for s in d_steps} == {3.0} and {float(s) for s in g_steps} == {1.0}
    assert not same(g_before, session.generator)
    assert (session.d_updates, session.g_updates, session.iterations) == (3, 1, 1)


def test_trainer_one_network_steps_keep_step_and_history():
    """Do Trainer.discriminator_step / generator_step update one network each, without counting a
    training step or writing the history?"""
    torch.manual_seed(0)
    generator, discriminator = toy_generator(), toy_discriminator()
    trainer = Trainer(generator, discriminator, toy_2d("moons", n=256), latent_dim=2,
                      from_logits=True, batch_size=32, snapshot_every=0)
    g_before, d_before = weights(generator), weights(discriminator)
    record = trainer.discriminator_step()
    assert set(record) >= {"d_loss", "d_acc_real", "d_acc_fake"} and same(g_before, generator)
    assert not same(d_before, discriminator)
    d_after = weights(discriminator)
    record = trainer.generator_step()
    assert set(record) == {"g_loss", "g_grad_norm"} and same(d_after, discriminator)
    assert not same(g_before, generator)
    assert trainer.step == 0 and len(trainer.history) == 0


def test_curves_record_each_update(session):
    """Do the curves get one record per button step, with only the stepped network's loss?"""
    session.step_discriminator()
    session.step_generator()
    state = session.state
    assert state.steps == [1, 2]
    assert math.isfinite(state.metrics["d_loss"][0]) and math.isnan(state.metrics["g_loss"][0])
    assert math.isnan(state.metrics["d_loss"][1]) and math.isfinite(state.metrics["g_loss"][1])


# --------------------------------------------------------------------------- settings

def test_loss_choice_reaches_the_trainer_and_the_arrows(session):
    """Does choosing a loss change the trainer's loss and the arrows (minimax and non-saturating
    differ; least squares differs from both)?"""
    arrows = {}
    for loss in LOSSES:
        session.set_loss(loss)
        assert session.trainer.config.loss == loss
        arrows[loss] = session.view().gradients
    assert not np.allclose(arrows["minimax"], arrows["non_saturating"])
    assert not np.allclose(arrows["least_squares"], arrows["non_saturating"])
    with pytest.raises(ValueError, match="unknown loss"):
        session.set_loss("wasserstein")


def test_learning_rates_reach_the_optimizers(session):
    """Do new learning rates reach the Adam optimizers of G and D?"""
    session.set_learning_rates(g_lr=3e-4, d_lr=5e-3)
    assert [g["lr"] for g in session.trainer.g_optimizer.param_groups] == [3e-4]
    assert [g["lr"] for g in session.trainer.d_optimizer.param_groups] == [5e-3]
    with pytest.raises(ValueError):
        session.set_learning_rates(g_lr=0.0)


@pytest.mark.parametrize("name", TOY_DISTRIBUTIONS)
def test_dataset_choice_restarts_on_that_distribution(session, name):
    """Does picking a data set restart the GAN on points of that distribution?"""
    session.step_both()
    session.set_dataset(name)
    assert session.iterations == 0 and session.state.steps == []
    assert torch.equal(session.data, toy_2d(name, n=session.settings.samples, seed=0))


def test_reset_gives_the_seeded_start(session):
    """Does Reset bring back exactly the weights a fresh session starts with?"""
    fresh = weights(session.generator) + weights(session.discriminator)
    session.train(5)
    session.reset()
    assert all(torch.equal(a, b) for a, b in zip(fresh, weights(session.generator) + weights(session.discriminator)))
    assert (session.d_updates, session.g_updates) == (0, 0)


def test_play_trains_in_the_background_and_applies_settings_between_steps(session, wait_until):
    """Does Play train in a thread until Pause, applying a loss change made while it runs?"""
    session.play()
    assert session.is_playing
    assert wait_until(lambda: session.iterations >= 3)
    session.set_loss("least_squares")
    assert wait_until(lambda: session.trainer.config.loss == "least_squares")
    session.pause()
    assert not session.is_playing and session.state.status == "paused"
    done = session.iterations
    assert session.g_updates == done and session.d_updates == done
    session.step_both()
    assert session.iterations == done + 1


def test_a_failing_students_function_is_shown_not_raised():
    """Does an error in a student's heat-map or arrow function show up in the view (not crash it)?"""
    def heatmap(discriminator, xs, ys):
        raise NotImplementedError

    def arrows(discriminator, points, loss):
        return points.sum(dim=0)  # the wrong shape

    session = GAN2DSession(heatmap_fn=heatmap, gradient_fn=arrows, resolution=8, fakes=10)
    view = session.view()
    assert view.heatmap is None and view.gradients is None
    assert view.errors["heatmap"] == "NotImplementedError"
    assert "shape (2,)" in view.errors["gradients"]


# --------------------------------------------------------------------------- drawing and widget

def test_plane_puts_high_y_at_the_top():
    """Is row ys[-1] of the heat map drawn at the top of the plane (and a green D verdict green)?"""
    from PIL import Image

    from ganlab_kit.widgets.gan2d import draw_plane, probability_colors

    session = GAN2DSession(resolution=8, fakes=4, reals=4)
    view = session.view()
    view.heatmap = np.zeros((8, 8), dtype=np.float32)
    view.heatmap[-1] = 1.0  # D says "real" only along the highest y
    view.real = view.fake = np.full((4, 2), 10.0, dtype=np.float32)  # off the picture
    view.manifold = np.full_like(view.manifold, 10.0)
    image = draw_plane(view, size=80, manifold=False, arrows=False)
    assert isinstance(image, Image.Image)
    top, bottom = np.asarray(image)[4, 40], np.asarray(image)[75, 40]
    assert tuple(top) == tuple(probability_colors()[255]) and tuple(bottom) == tuple(probability_colors()[0])


def test_static_png_repeats_for_a_seeded_run():
    """Do two seeded labs trained alike give identical PNG bytes (headless output is reproducible)?"""
    from PIL import Image

    from ganlab_kit.widgets.gan2d import GAN2DLab

    pictures = []
    for _ in range(2):
        lab = GAN2DLab("grid", resolution=16)
        lab.session.step_discriminator()
        lab.train(3)
        pictures.append(lab.to_png())
    assert pictures[0] == pictures[1]
    assert Image.open(io.BytesIO(pictures[0])).size[0] > 700


def test_widget_buttons_and_controls(wait_until):
    """Do the widget's controls act on the session when set or clicked, as a student would?"""
    pytest.importorskip("ipywidgets")
    from ganlab_kit.widgets.gan2d import GAN2DLab

    lab = GAN2DLab("ring", resolution=16)
    box = lab.widget
    assert box is lab.widget and lab.plane.value[:2] == b"\xff\xd8"  # a JPEG frame
    assert lab.curves.value[:4] == b"\x89PNG"
    lab.step_d_button.click()
    lab.step_g_button.click()
    assert (lab.session.d_updates, lab.session.g_updates) == (1, 1)
    lab.d_steps.value = 2
    lab.step_both_button.click()
    assert (lab.session.d_updates, lab.session.g_updates) == (3, 2)
    lab.loss.value = "minimax"
    lab.g_lr.value = 1e-4
    assert lab.session.trainer.config.loss == "minimax"
    assert lab.session.trainer.g_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    first = lab.plane.value
    lab.play_button.click()
    assert lab.pause_button.disabled is False and lab.play_button.disabled is True
    assert wait_until(lambda: lab.session.iterations > 10)
    assert wait_until(lambda: lab.plane.value != first)
    lab.pause_button.click()
    assert not lab.session.is_playing and "paused" in lab.status.value
    lab.dataset.value = "moons"
    assert lab.session.settings.dataset == "moons" and lab.session.iterations == 0
    lab.reset_button.click()
    assert lab.session.iterations == 0 and "ready" in lab.status.value
