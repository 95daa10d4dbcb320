"""Notebook widgets for GAN training: state in plain Python, ipywidgets only draw it.

* :class:`TrainingDashboard`: live curves, samples, progress, alarms and
  Start / Pause / Stop for a PyTorch :class:`~ganlab_kit.torch_gan.Trainer`
  (``dashboard.run(steps)``) or a Keras ``fit`` (``dashboard.keras_callback()``).
* :class:`SampleGrid`: real and generated images labelled with D's P(real).
* :class:`NoiseViewer`: noise vectors as images above the samples they produce.
* :class:`Playground`: the GAN Playground (edit G and D layer by layer, train, snapshot
  into an experiment log); :class:`ExperimentLog` shows that log.
* :class:`GAN2DLab`: a GAN on 2-D toy data seen whole, as in GAN Lab (D's heat map, G's
  manifold, gradient arrows on the fakes; Play / Pause / Step D / Step G / Step both / Reset).
* :class:`DashboardState`, :class:`AlarmMonitor`, :class:`GAN2DSession`: the logic, testable
  without widgets.

Headless executions (nbgrader, nbconvert) get a static PNG instead of widgets;
see :func:`display_mode` and the ``GANLAB_WIDGETS`` override.

Names load on first use, so ``import ganlab_kit.widgets`` imports neither
ipywidgets nor torch.
"""
from __future__ import annotations

from .._lazy import lazy_attributes

_NAMES = {
    "TrainingDashboard": "dashboard",
    "DashboardView": "dashboard",
    "SampleGrid": "sample_grid",
    "SampleVerdicts": "sample_grid",
    "discriminator_verdicts": "sample_grid",
    "NoiseViewer": "noise_viewer",
    "standard_normal_noise": "noise_viewer",
    "Playground": "playground",
    "ExperimentLog": "playground",
    "PlaygroundSession": "playground_state",
    "TrainingSettings": "playground_state",
    "GAN2DLab": "gan2d",
    "GAN2DSession": "gan2d_state",
    "GAN2DSettings": "gan2d_state",
    "DashboardState": "state",
    "RedrawThrottle": "state",
    "Alarm": "alarms",
    "AlarmMonitor": "alarms",
    "effective_classes": "alarms",
    "sample_spread": "alarms",
    "display_mode": "environment",
    "is_headless": "environment",
    "DISPLAY_ENV": "environment",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES)
