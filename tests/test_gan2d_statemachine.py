"""The GAN Lab 2-D widget driven through random sequences of clicks and changes (Hypothesis).

A student can click Step D, Step G, Step both, Play, Pause and Reset, and change the data, the
loss, k and the learning rates, in any order, also while Play trains. After every action the
widget must agree with its session (buttons, dropdowns, counters in the status line), the
counters must follow what the clicks did, and no callback may raise: an error shows in the
widget's status line (there is no cell output for a click), never only in the log console.
"""
import logging
import time

import pytest

pytest.importorskip("ipywidgets")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

from ganlab_kit.config import LOSSES  # noqa: E402
from ganlab_kit.data import TOY_DISTRIBUTIONS  # noqa: E402
from ganlab_kit.widgets.gan2d import GAN2DLab  # noqa: E402


class _CallbackErrors(logging.Handler):
    """Collects what ipywidgets logs when a click's callback raises (outside a kernel)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        if "Exception in callback" in record.getMessage():
            self.records.append(record.getMessage())


class GAN2DWidgetMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.lab = GAN2DLab("ring", resolution=12, size=96)
        self.lab.widget  # built, as when shown
        self.errors = _CallbackErrors()
        logging.getLogger().addHandler(self.errors)
        self.expected = {"d": 0, "g": 0, "iterations": 0}
        self.playing = False

    def teardown(self):
        self.lab.pause_button.click()
        self.lab.session.pause()
        logging.getLogger().removeHandler(self.errors)

    def _sync(self):
        """After Play the counters grew by an unknown number of steps: take them from the session."""
        session = self.lab.session
        self.expected = {"d": session.d_updates, "g": session.g_updates, "iterations": session.iterations}

    # ------------------------------------------------------------------ clicks
    @rule()
    def step_d(self):
        self.lab.step_d_button.click()
        if self.playing:
            self.playing = False
            self._sync()
        else:
            self.expected["d"] += 1
            self.expected["iterations"] += 1

    @rule()
    def step_g(self):
        self.lab.step_g_button.click()
        if self.playing:
            self.playing = False
            self._sync()
        else:
            self.expected["g"] += 1
            self.expected["iterations"] += 1

    @rule()
    def step_both(self):
        k = self.lab.session.settings.d_steps
        self.lab.step_both_button.click()
        if self.playing:
            self.playing = False
            self._sync()
        else:
            self.expected["d"] += k
            self.expected["g"] += 1
            self.expected["iterations"] += 1

    @precondition(lambda self: not self.playing)
    @rule()
    def play(self):
        self.lab.play_button.click()
        self.playing = True

    @rule(wait=st.sampled_from([0.0, 0.01, 0.03]))
    def pause(self, wait):
        time.sleep(wait)
        self.lab.pause_button.click()
        if self.playing:
            self.playing = False
            self._sync()

    @rule()
    def reset(self):
        self.lab.reset_button.click()
        self.playing = False
        self.expected = {"d": 0, "g": 0, "iterations": 0}

    # ------------------------------------------------------------------ changes
    @rule(name=st.sampled_from(TOY_DISTRIBUTIONS))
    def choose_data(self, name):
        changed = self.lab.dataset.value != name
        self.lab.dataset.value = name
        if changed:  # a new data set starts again (as in GAN Lab)
            self.playing = False
            self.expected = {"d": 0, "g": 0, "iterations": 0}

    @rule(loss=st.sampled_from(LOSSES))
    def choose_loss(self, loss):
        self.lab.loss.value = loss

    @rule(k=st.integers(min_value=1, max_value=5))
    def choose_k(self, k):
        self.lab.d_steps.value = k

    @rule(which=st.sampled_from(["g_lr", "d_lr"]), exponent=st.floats(min_value=-5, max_value=-1))
    def choose_learning_rate(self, which, exponent):
        getattr(self.lab, which).value = 10 ** exponent

    # ------------------------------------------------------------------ what must hold
    @invariant()
    def no_error_anywhere(self):
        assert self.errors.records == []
        assert self.lab.message == "", self.lab.message
        assert self.lab.session.state.status != "failed", getattr(self.lab.session.state, "error", "")

    @invariant()
    def widgets_agree_with_the_session(self):
        lab, session = self.lab, self.lab.session
        assert lab.dataset.value == session.settings.dataset
        assert lab.loss.value == session.settings.loss
        assert lab.d_steps.value == session.settings.d_steps
        if not self.playing:
            assert not session.is_playing
            assert lab.play_button.disabled is False and lab.pause_button.disabled is True
            assert f"D steps {session.d_updates} &middot; G steps {session.g_updates}" in lab.status.value

    @invariant()
    def counters_follow_the_clicks(self):
        if self.playing:
            return
        session = self.lab.session
        assert {"d": session.d_updates, "g": session.g_updates, "iterations": session.iterations} == self.expected
        view = self.lab.view()
        assert view.errors == {} and view.d_updates == session.d_updates and view.g_updates == session.g_updates
        assert view.loss == session.settings.loss and view.dataset == session.settings.dataset


TestGAN2DWidgetMachine = GAN2DWidgetMachine.TestCase
TestGAN2DWidgetMachine.settings = settings(max_examples=12, stateful_step_count=15, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])


def test_an_error_in_a_click_shows_in_the_widget():
    """Does an error raised by a click's action (here Pause timing out) show in the status line
    instead of reaching only the log console?"""
    lab = GAN2DLab("ring", resolution=12, size=96)
    lab.widget

    def stuck(timeout=30.0):
        raise TimeoutError("training did not pause within 30 s")

    lab.session.pause = stuck
    errors = _CallbackErrors()
    logging.getLogger().addHandler(errors)
    try:
        lab.pause_button.click()
    finally:
        logging.getLogger().removeHandler(errors)
    assert errors.records == []
    assert "TimeoutError" in lab.message and "did not pause" in lab.status.value
