"""Plumbing shared by the picture widgets: a seed box, a refresh button, one PNG."""
from __future__ import annotations

from typing import Optional

from .environment import display_mode, show_png

__all__ = ["SeededPicture"]


class SeededPicture:
    """Base of :class:`SampleGrid` and :class:`NoiseViewer`.

    Subclasses set ``button_label`` and ``css_class``, keep ``generator`` and
    ``seed_value``, and define ``resample(seed)`` and ``to_png()``.
    """

    button_label = "New samples"
    css_class = "ganlab-picture"
    _widgets: Optional[dict] = None

    def _build(self) -> dict:
        if self._widgets is None:
            import ipywidgets as widgets

            seed = widgets.IntText(value=self.seed_value, description="seed",
                                   layout=widgets.Layout(width="160px"))
            button = widgets.Button(description=self.button_label, icon="refresh",
                                    disabled=self.generator is None)
            image = widgets.Image(format="png")
            image.add_class(self.css_class)
            self._widgets = {"seed": seed, "button": button, "image": image,
                             "box": widgets.VBox([widgets.HBox([seed, button]), image])}
            button.on_click(lambda _button: self.resample())
            seed.observe(self._on_seed, names="value")
            self._redraw()
        return self._widgets

    def _on_seed(self, change) -> None:
        if self.generator is not None and change["new"] != self.seed_value:
            self.resample(change["new"])

    def _redraw(self) -> None:
        if self._widgets is not None:
            self._widgets["seed"].value = self.seed_value
            self._widgets["image"].value = self.to_png()

    @property
    def widget(self):
        """An ipywidgets ``VBox``: the seed box, the refresh button and the picture."""
        return self._build()["box"]

    @property
    def seed(self):
        """The seed ``IntText``; setting ``.value`` redraws from that seed."""
        return self._build()["seed"]

    def display(self) -> None:
        if display_mode() == "live":
            from IPython.display import display

            display(self.widget)
        else:
            show_png(self.to_png())

    def _ipython_display_(self) -> None:
        self.display()
