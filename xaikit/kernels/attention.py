"""Attention rollout and Chefer et al.'s relevance propagation, on captured attention weights (NumPy).

Both take, per transformer block, the attention weights ``(N, heads, T, T)`` (rows: the
attending token, softmaxed over columns) and return each image's relevance of every token
for the class token, ``(N, T)``; :func:`patch_grid` says which tokens are the image's
patches and how they tile it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError

__all__ = ["HEAD_FUSIONS", "attention_rollout", "generic_attention_relevance", "patch_grid"]

HEAD_FUSIONS = ("mean", "max", "min")


def _fuse(a: np.ndarray, fusion: str) -> np.ndarray:
    if fusion == "mean":
        return a.mean(axis=1)
    if fusion == "max":
        return a.max(axis=1)
    if fusion == "min":
        return a.min(axis=1)
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}; got {fusion!r}")


def _check(attentions: Sequence[np.ndarray]) -> tuple[int, int]:
    if not attentions:
        raise ModelError("no attention weights were captured")
    shapes = {tuple(a.shape) for a in attentions}
    n, _, t, s = attentions[0].shape
    if len(shapes) != 1 or t != s:
        raise ModelError(f"the attention weights of the blocks have shapes {sorted(shapes)}: attention rollout and "
                         "generic attention need global self-attention over the same tokens in every block (not "
                         "windowed attention as in Swin)")
    return n, t


def attention_rollout(attentions: Sequence[np.ndarray], head_fusion: str = "mean",
                      discard_ratio: float = 0.0) -> np.ndarray:
    """Abnar & Zuidema's attention rollout: ``R = prod_l (0.5 A_l + 0.5 I)`` (rows renormalised), ``(N, T, T)``.

    Per block, the heads are fused (``mean``, ``max`` or ``min``); with ``discard_ratio``
    the lowest ``discard_ratio`` fraction of each image's fused weights is set to 0 (never
    the class token's attention to itself, entry ``[0, 0]``), as in Gildenblat's
    widely used implementation; then the residual connection is accounted for
    (``0.5 A + 0.5 I``), each row renormalised to sum to 1, and the blocks multiplied
    from the first: ``R = A~_L ... A~_1``.
    """
    n, t = _check(attentions)
    eye = np.eye(t)
    result = np.broadcast_to(eye, (n, t, t)).copy()
    for a in attentions:
        fused = _fuse(np.asarray(a, np.float64), head_fusion)
        if discard_ratio > 0:
            flat = fused.reshape(n, -1)
            k = int(flat.shape[1] * discard_ratio)
            if k:
                lowest = np.argsort(flat, axis=1, kind="stable")[:, :k]
                for i in range(n):
                    drop = lowest[i][lowest[i] != 0]
                    flat[i, drop] = 0.0
            fused = flat.reshape(n, t, t)
        step = 0.5 * fused + 0.5 * eye
        step = step / step.sum(axis=-1, keepdims=True)
        result = step @ result
    return result


def generic_attention_relevance(attentions: Sequence[np.ndarray], gradients: Sequence[np.ndarray]) -> np.ndarray:
    """Chefer et al.'s relevance for self-attention: ``R = I``, then ``R += mean_h (grad A * A)^+ R`` per block.

    ``gradients`` are the target score's gradients with respect to each block's
    attention weights. Returns ``R`` ``(N, T, T)``.
    """
    n, t = _check(attentions)
    if len(gradients) != len(attentions):
        raise ValueError("one gradient per attention map is needed")
    relevance = np.broadcast_to(np.eye(t), (n, t, t)).copy()
    for a, g in zip(attentions, gradients):
        cam = np.maximum(np.asarray(g, np.float64) * np.asarray(a, np.float64), 0.0).mean(axis=1)
        relevance = relevance + cam @ relevance
    return relevance


def patch_grid(n_tokens: int, image_size: tuple[int, int]) -> tuple[int, int, int]:
    """``(prefix tokens, grid height, grid width)``: the last ``gh * gw`` tokens tile the image in patches.

    The prefix (class token, distillation token, registers) comes first, as in
    torchvision, timm and Hugging Face; the grid is the one with the image's aspect ratio
    and the fewest prefix tokens (up to 8). A model without a class token (prefix 0) has
    no class token row to read: :class:`ModelError`.
    """
    height, width = image_size
    for prefix in range(min(9, n_tokens)):
        patches = n_tokens - prefix
        for gh in range(1, patches + 1):
            if patches % gh == 0 and gh * width == (patches // gh) * height:
                if prefix == 0:
                    raise ModelError(f"the attention runs over {n_tokens} tokens, all of them patches: the model has "
                                     "no class token whose row the attention methods read")
                return prefix, gh, patches // gh
    raise ModelError(f"the attention runs over {n_tokens} tokens, which do not tile a {height}x{width} image in "
                     "square patches after up to 8 class/register tokens")
