"""ganlab-kit: a Jupyter teaching kit for GAN labs, with an nbgrader autograder.

``import ganlab_kit`` is light: it loads neither TensorFlow nor ipywidgets. Import
the parts you need: ``ganlab_kit.data``, ``ganlab_kit.torch_gan``,
``ganlab_kit.keras_gan``, ``ganlab_kit.scoring``, ``ganlab_kit.widgets``.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
