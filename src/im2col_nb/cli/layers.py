"""The convolution layers ``im2col-nb compare`` times: built-in ones and
``--layers`` specs (built-in names or custom ``N,C,H,W,F,K[,...]``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import im2col_nb as nb

__all__ = ["DEFAULT_LAYERS", "LAYER_SPEC_HELP", "Layer", "MAIN_LAYER", "QUICK_LAYERS",
           "parse_layers"]


def _shape(shape) -> str:
    return " x ".join(str(s) for s in shape)


@dataclass(frozen=True)
class Layer:
    """One convolution problem: input (n, c, h, w), f filters k x k.

    `stride`, `padding`, `dilation` and `groups` are passed to ``conv2d``
    as they are (`padding` may be ``'same'`` or ``'valid'``).
    """

    name: str
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int = 1
    padding: int | str = 0
    dilation: int = 1
    groups: int = 1

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.f, self.c // self.groups, self.k, self.k)

    def kwargs(self) -> dict:
        """The keyword arguments of ``conv2d`` for this layer."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def output_shape(self) -> tuple[int, ...]:
        """The output shape, as ``conv2d`` computes it.

        Raises
        ------
        ValueError, TypeError
            The package's own error for a layer it rejects (e.g. a kernel
            larger than the padded input).
        """
        # An empty batch: the package validates the geometry without computing anything.
        empty = np.zeros((0,) + self.input_shape[1:], dtype=np.float32)
        weight = np.zeros(self.weight_shape, dtype=np.float32)
        return (self.n,) + nb.conv2d(empty, weight, **self.kwargs()).shape[1:]

    def flops(self) -> int:
        """Multiply-adds x 2 of one forward pass."""
        _, f, oh, ow = self.output_shape()
        return 2 * self.n * f * (self.c // self.groups) * self.k * self.k * oh * ow

    def describe(self) -> str:
        """One line: shapes, geometry and GFLOP."""
        geo = f"stride {self.stride}, padding {self.padding!r}"
        if self.dilation != 1:
            geo += f", dilation {self.dilation}"
        if self.groups != 1:
            geo += f", groups {self.groups}"
        return (f"input {_shape(self.input_shape)}, {self.f} filters {self.k}x{self.k}, {geo}"
                f" -> output {_shape(self.output_shape())}, {self.flops() / 1e9:.2f} GFLOP")


DEFAULT_LAYERS = {
    layer.name: layer
    for layer in (
        Layer("rgb-3x3", 8, 3, 64, 64, 32, 3, padding=1),
        Layer("mid-3x3", 8, 32, 32, 32, 64, 3, padding=1),
        Layer("deep-3x3", 8, 64, 16, 16, 128, 3, padding=1),
        Layer("wide-5x5", 8, 16, 32, 32, 32, 5, padding=2),
        Layer("stride-2", 8, 32, 32, 32, 64, 3, stride=2, padding=1),
        Layer("pointwise-1x1", 8, 64, 16, 16, 128, 1),
    )
}
#: ``compare --quick`` without ``--layers``.
QUICK_LAYERS = ("rgb-3x3", "mid-3x3", "deep-3x3")
#: The layer ``im2col-nb`` without a command times.
MAIN_LAYER = "mid-3x3"

_FIELDS = ("N", "C", "H", "W", "F", "K", "STRIDE", "PADDING", "DILATION", "GROUPS")
_CUSTOM = "N,C,H,W,F,K[,STRIDE[,PADDING[,DILATION[,GROUPS]]]]"

LAYER_SPEC_HELP = (
    f"built-in layer names (comma-separated, or 'all') or custom layers {_CUSTOM} "
    f"(PADDING may be 'same' or 'valid'); built-in: {', '.join(DEFAULT_LAYERS)}"
)


def _spec_int(spec: str, what: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"layer {spec!r}: {what} must be an int, got {text!r}") from None
    if value < (0 if what == "PADDING" else 1):
        raise ValueError(f"layer {spec!r}: {what} must be "
                         f"{'non-negative' if what == 'PADDING' else 'positive'}, got {value}")
    return value


def _custom_layer(spec: str) -> Layer:
    items = [t.strip() for t in spec.split(",")]
    if not 6 <= len(items) <= 10:
        raise ValueError(f"layer {spec!r}: expected 6 to 10 comma-separated values "
                         f"{_CUSTOM}, got {len(items)}")
    numbers: dict = {}
    for field, text in zip(_FIELDS, items):
        if field == "PADDING" and text.lower() in ("same", "valid"):
            numbers[field] = text.lower()
        else:
            numbers[field] = _spec_int(spec, field, text)
    layer = Layer(spec, numbers["N"], numbers["C"], numbers["H"], numbers["W"], numbers["F"],
                  numbers["K"], numbers.get("STRIDE", 1), numbers.get("PADDING", 0),
                  numbers.get("DILATION", 1), numbers.get("GROUPS", 1))
    if layer.c % layer.groups:
        raise ValueError(f"layer {spec!r}: GROUPS={layer.groups} must divide C={layer.c}")
    if layer.padding == "same" and layer.stride != 1:
        # conv2d takes it (TensorFlow's rule), but a compared peer does not
        raise ValueError(f"layer {spec!r}: PADDING='same' needs STRIDE=1 here: PyTorch, one of "
                         f"the implementations compared, takes 'same' only with stride 1")
    try:
        layer.output_shape()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"layer {spec!r}: {exc}") from None
    return layer


def parse_layers(values) -> list[Layer]:
    """Layers from ``--layers`` values.

    Parameters
    ----------
    values : list of str
        Each a built-in name, comma-separated names, ``all``, or a custom
        layer ``N,C,H,W,F,K[,STRIDE[,PADDING[,DILATION[,GROUPS]]]]``;
        whitespace also separates specs.

    Returns
    -------
    layers : list of Layer
        In the order given.

    Raises
    ------
    ValueError
        An unknown name, a malformed custom layer, or one the package rejects
        (the package's own message, e.g. a kernel larger than the input).

    Examples
    --------
    >>> [layer.name for layer in parse_layers(["mid-3x3,deep-3x3"])]
    ['mid-3x3', 'deep-3x3']
    >>> parse_layers(["1,4,9,9,6,3,1,same"])[0].output_shape()
    (1, 6, 9, 9)
    """
    layers: list[Layer] = []
    for value in values:
        for part in value.split():
            if part.split(",")[0].strip().lstrip("-").isdigit():
                layers.append(_custom_layer(part))
                continue
            for name in part.split(","):
                name = name.strip()
                if not name:
                    continue
                if name == "all":
                    layers.extend(DEFAULT_LAYERS.values())
                elif name in DEFAULT_LAYERS:
                    layers.append(DEFAULT_LAYERS[name])
                else:
                    raise ValueError(f"unknown layer {name!r}; built-in layers: "
                                     f"{', '.join(DEFAULT_LAYERS)}, or a custom {_CUSTOM}")
    if not layers:
        raise ValueError("--layers named no layer")
    return layers
