"""How a layer's output holds a spatial map: :class:`LayerLayout`, decided once per layer.

A CAM weighs a layer's output as ``(h, w, C)``: a map per channel. Layers hold that map
in three ways:

``channels_first``
    ``(C, h, w)`` per image: PyTorch convolutions, pooling, BatchNorm.
``channels_last``
    ``(h, w, C)`` per image: every Keras layer; inside PyTorch models, a ``Linear`` or a
    ``LayerNorm`` applied to a permuted map (Swin's stages, ConvNeXt's block internals).
``tokens:K``
    ``(T, C)`` per image, ``T = K + h w``: a vision transformer's sequence, whose first
    ``K`` tokens (the class token, a distillation token, register tokens) are not
    locations and are dropped; the other ``h w`` are the grid of patches, row by row.

An engine decides each layer's layout once, when it describes the model
(:class:`xaikit.spec.LayerInfo.layout`), from the model's structure where it tells (a
convolution's output is channels-first; a ``Linear`` whose width is the last axis is
channels-last; a permutation module says what it does) and from the shapes seen
otherwise (which two axes form a grid with the input's aspect; which grids other layers
have, for the token count). Where the shapes allow more than one reading the layer is
marked undecided (:attr:`xaikit.spec.LayerInfo.undecided`) and a method asked to use
it raises :class:`~xaikit.LayerError` naming the ``layer_layout=`` parameter, which
overrides the decision (:func:`layout_for`): nothing is guessed.

The core turns layer tensors into maps with :meth:`LayerLayout.to_map` and back with
:meth:`LayerLayout.from_map`; the adapters hand the same reshape to their library
(pytorch-grad-cam's ``reshape_transform``, a grid module for Captum).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .errors import InputError, LayerError

__all__ = ["LAYOUT_KINDS", "MAX_PREFIX_TOKENS", "LayerLayout", "decide_layout", "grid_like", "layout_for",
           "parse_layout", "token_layout"]

LAYOUT_KINDS = ("channels_first", "channels_last", "tokens")
#: Most leading tokens that are not locations (class + distillation + registers) a token layout drops by itself.
MAX_PREFIX_TOKENS = 8

_PARAM_HELP = ("layer_layout='channels_first' ((C, h, w)), 'channels_last' ((h, w, C)) or 'tokens:K' ((T, C), "
               "the first K tokens dropped)")


@dataclass(frozen=True)
class LayerLayout:
    """Where the map is in one layer's per-image output.

    Attributes
    ----------
    kind : str
        ``"channels_first"``, ``"channels_last"`` or ``"tokens"``.
    grid : tuple of int
        ``(h, w)``: the map's locations.
    channels : int
        ``C``.
    prefix : int
        Leading tokens dropped (``tokens`` only): class, distillation, register tokens.
    source : str
        How it was decided: ``"structure"``, ``"shapes"`` or ``"given"`` (``layer_layout=``).
    """

    kind: str
    grid: tuple[int, int]
    channels: int
    prefix: int = 0
    source: str = "shapes"

    @property
    def name(self) -> str:
        """The ``layer_layout=`` value that gives this layout (``"tokens:1"`` for a class token)."""
        return f"tokens:{self.prefix}" if self.kind == "tokens" else self.kind

    @property
    def locations(self) -> int:
        """``h * w``."""
        return self.grid[0] * self.grid[1]

    @property
    def raw_shape(self) -> tuple[int, ...]:
        """The per-image shape of the layer's output that this layout reads."""
        h, w = self.grid
        if self.kind == "channels_first":
            return (self.channels, h, w)
        if self.kind == "channels_last":
            return (h, w, self.channels)
        return (self.prefix + h * w, self.channels)

    def describe(self) -> str:
        """Words for messages and docs: ``"tokens (first 1 dropped), 14x14 grid"``."""
        h, w = self.grid
        if self.kind == "tokens":
            dropped = f"first {self.prefix} dropped" if self.prefix else "none dropped"
            return f"tokens ({dropped}), {h}x{w} grid, {self.channels} channels"
        return f"{self.kind.replace('_', '-')}, {h}x{w} grid, {self.channels} channels"

    def to_map(self, a: np.ndarray) -> np.ndarray:
        """``(N, *raw_shape)`` -> the map ``(N, h, w, C)`` (a view where possible)."""
        a = np.asarray(a)
        self._check(a.shape[1:], "the layer's output")
        if self.kind == "channels_first":
            return a.transpose(0, 2, 3, 1)
        if self.kind == "channels_last":
            return a
        return a[:, self.prefix:].reshape(len(a), *self.grid, self.channels)

    def from_map(self, m: np.ndarray, purpose: str) -> np.ndarray:
        """The map ``(N, h, w, C)`` -> the layer's own ``(N, *raw_shape)``, to run the model above the layer.

        Raises :class:`~xaikit.LayerError` for a token layout that drops tokens: the model
        above the layer needs them, and a map does not hold them (``purpose`` names what
        needed it).
        """
        m = np.asarray(m)
        self.check_writable(purpose)
        if self.kind == "channels_first":
            return np.ascontiguousarray(m.transpose(0, 3, 1, 2))
        if self.kind == "channels_last":
            return m
        return m.reshape(len(m), self.locations, self.channels)

    def check_writable(self, purpose: str) -> None:
        """Raise :class:`~xaikit.LayerError` if maps cannot be turned back into this layer's output (dropped tokens)."""
        if self.kind == "tokens" and self.prefix:
            raise LayerError(f"{purpose} runs the model above the layer on modified maps, but this layer's output "
                             f"holds {self.prefix} token(s) besides the map (class/distillation/register tokens) that "
                             "a map does not carry; pick a layer without them (a channels-first or channels-last "
                             "layer, or a token layer with layer_layout='tokens:0').")

    def _check(self, shape: tuple[int, ...], what: str) -> None:
        if tuple(shape) != self.raw_shape:
            raise LayerError(f"{what} has per-image shape {tuple(shape)}, but its layout ({self.describe()}) reads "
                             f"{self.raw_shape}")


def parse_layout(value: object) -> tuple[str, int | None]:
    """``(kind, prefix)`` of a ``layer_layout=`` value (``prefix`` None: decided from the shapes)."""
    if not isinstance(value, str):
        raise InputError(f"layer_layout must be a string; got {value!r}. Use {_PARAM_HELP}.")
    text = value.strip().lower().replace("-", "_")
    if text in ("channels_first", "channels_last", "tokens"):
        return text, None
    if text.startswith("tokens:"):
        count = text.split(":", 1)[1].strip()
        if count.isdigit():
            return "tokens", int(count)
    raise InputError(f"layer_layout={value!r} is not a layout; use {_PARAM_HELP}.")


def grid_like(a: int, b: int, image_size: tuple[int | None, int | None]) -> bool:
    """Whether ``(a, b)`` can be a grid of locations over an image of ``image_size`` ``(H, W)``.

    Both at least 1, at most the image's, and the image's aspect (``a / b`` is ``H / W``,
    rounded either way): a convolution stack's map of a 224x224 image is square, of a
    224x160 one 7x5.
    """
    height, width = image_size
    if a < 1 or b < 1:
        return False
    if height is None or width is None:
        return a == b
    if a > height or b > width:
        return False
    exact = b * height / width
    return a in (int(np.floor(exact)), int(np.ceil(exact)))


def token_layout(shape: tuple[int, ...], image_size: tuple[int | None, int | None],
                 grids: Iterable[tuple[int, int]], prefix: int | None = None) -> LayerLayout | str | None:
    """The token layout of a per-image ``(T, C)`` output, or why it is undecided (a string), or None.

    ``T - K`` tokens must form a grid of the input: one of ``grids`` (the maps other layers
    of the model have, such as the patch embedding's) when the model has any, else a grid
    with the input's aspect. ``prefix`` given: only ``K = prefix``; else every ``K`` up to
    :data:`MAX_PREFIX_TOKENS`, and exactly one must fit. When no grid seen fits, all ``T``
    tokens (no class token) may form one of them downsampled by the same power of 2 on both
    axes (Hugging Face Swin's patch merging: 16x16 patch tokens, then 8x8, 4x4, as ``(T, C)``).
    """
    if len(shape) != 2:
        return None
    tokens, channels = shape
    seen = {tuple(g) for g in grids}
    found = _token_fits(tokens, image_size, seen, prefix)
    if not found and seen:
        merged = {(g[0] // f, g[1] // f) for g in seen for f in (2, 4, 8, 16, 32)
                  if g[0] % f == 0 and g[1] % f == 0}
        found = _token_fits(tokens, image_size, merged - seen, prefix or 0) if merged - seen else []
    if not found:
        return None
    if len(found) > 1:
        readings = ", ".join(f"{k} token(s) + {g[0]}x{g[1]}" for k, g in found)
        return f"its {tokens} tokens can be read as {readings}"
    k, grid = found[0]
    return LayerLayout("tokens", grid, channels, k, "shapes" if prefix is None else "given")


def _token_fits(tokens: int, image_size: tuple[int | None, int | None], seen: set[tuple[int, int]],
                prefix: int | None) -> list[tuple[int, tuple[int, int]]]:
    """Each ``(K, grid)`` reading of ``tokens`` tokens (see :func:`token_layout`)."""
    counts = [prefix] if prefix is not None else range(min(MAX_PREFIX_TOKENS, tokens - 1) + 1)
    fits: list[tuple[int, tuple[int, int]]] = []
    for k in counts:
        n = tokens - k
        if n < 2:
            continue
        known = [g for g in seen if g[0] * g[1] == n and grid_like(g[0], g[1], image_size)]
        if known:
            fits.append((k, max(known)))
            continue
        if seen:  # the model has maps: a token grid is one of them (the patch embedding's)
            continue
        shaped = [(h, n // h) for h in range(1, n + 1) if n % h == 0 and grid_like(h, n // h, image_size)]
        if len(shaped) == 1:
            fits.append((k, shaped[0]))
    return fits


def decide_layout(shape: tuple[int, ...] | None, hint: str | None, image_size: tuple[int | None, int | None],
                  grids: Iterable[tuple[int, int]] = ()) -> LayerLayout | str | None:
    """The layout of a per-image output ``shape``: a :class:`LayerLayout`, why it is undecided, or None (no map).

    ``hint``: what the model's structure says (``"channels_first"``, ``"channels_last"``,
    ``"tokens"``, or None). A 3-D output without a hint is read by which axes form a grid
    with the input's aspect (:func:`grid_like`), then by the ``grids`` other layers have;
    a 2-D output is tokens when :func:`token_layout` finds a grid.
    """
    if shape is None or any(s is None for s in shape):
        return None
    grids = list(grids)
    if len(shape) == 2:
        return token_layout(shape, image_size, grids)
    if len(shape) != 3:
        return None
    s0, s1, s2 = (int(s) for s in shape)
    if hint == "channels_first":
        return LayerLayout("channels_first", (s1, s2), s0, 0, "structure")
    if hint == "channels_last":
        return LayerLayout("channels_last", (s0, s1), s2, 0, "structure")
    first, last = grid_like(s1, s2, image_size), grid_like(s0, s1, image_size)
    if first and last:
        first, last = (s1, s2) in grids, (s0, s1) in grids
        if first == last:
            return f"its shape {tuple(shape)} reads as ({s0} channels, {s1}x{s2}) or ({s0}x{s1}, {s2} channels)"
    if first:
        return LayerLayout("channels_first", (s1, s2), s0)
    if last:
        return LayerLayout("channels_last", (s0, s1), s2)
    return None


def layout_for(name: str, shape: tuple[int, ...] | None, given: object, decided: LayerLayout | None,
               undecided: str, image_size: tuple[int | None, int | None],
               grids: Iterable[tuple[int, int]] = ()) -> LayerLayout:
    """The layout a method uses at layer ``name``: ``given`` (``layer_layout=``) if set, else the decided one.

    Raises :class:`~xaikit.LayerError` when the layer's layout is undecided and none is
    given (naming the parameter), when the given layout does not fit the output shape, or
    when the output holds no map.
    """
    shown = "unknown (it did not run)" if shape is None else "(N, " + ", ".join(map(str, shape)) + ")"
    if given is None:
        if decided is not None:
            return decided
        if undecided:
            raise LayerError(f"layer {name!r} outputs {shown}: {undecided}; say which with {_PARAM_HELP}.")
        raise LayerError(f"layer {name!r} outputs {shown}, not a spatial map per channel")
    kind, prefix = parse_layout(given)
    if shape is None:
        raise LayerError(f"layer {name!r} outputs shape {shown}, which layer_layout={given!r} cannot read")
    if kind == "tokens":
        found = token_layout(tuple(shape), image_size, grids, prefix if prefix is not None else None)
        if isinstance(found, LayerLayout):
            return LayerLayout("tokens", found.grid, found.channels, found.prefix, "given")
        why = found if isinstance(found, str) else "no grid of the input fits"
        raise LayerError(f"layer {name!r} outputs {shown}; layer_layout={given!r} cannot read it as tokens: {why}. "
                         "Tokens are (T, C) per image with T = K + h*w; give K as 'tokens:K'.")
    if len(shape) != 3:
        raise LayerError(f"layer {name!r} outputs {shown}; layer_layout={given!r} reads 3-D outputs (C, h, w) or "
                         "(h, w, C) per image")
    s0, s1, s2 = (int(s) for s in shape)
    if kind == "channels_first":
        return LayerLayout(kind, (s1, s2), s0, 0, "given")
    return LayerLayout(kind, (s0, s1), s2, 0, "given")
