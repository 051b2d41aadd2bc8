"""Methods on a transformer's attention weights: attention rollout and generic attention explainability.

Both read each block's attention weights in one pass (:meth:`xaikit.engine.Engine.attention`),
propagate them to the class token's relevance for every token (:mod:`xaikit.kernels.attention`)
and keep the class token's row over the image patches, a ``(gh, gw)`` map that the
template upsamples to the input as every layer map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, Param
from ..catalogue.parts import ATTENTION, attention_pass_floor
from ..explainer import Attribution
from ..kernels import chunks
from ..kernels.attention import attention_rollout, generic_attention_relevance, patch_grid
from .base import EngineExplainer

__all__ = ["AttentionRollout", "GenericAttention"]


class _AttentionMethod(EngineExplainer):
    """Relevance of the patches for the class token from the captured attention; see the subclasses."""

    needs_gradients = False

    def _relevance(self, attentions: list[np.ndarray], gradients: list[np.ndarray] | None,
                   params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        size = ctx.image_size
        t_in = ctx.graph_targets()
        maps, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            attentions, gradients, out, t_used = engine.attention(images[s], t_in[s], params["score"],
                                                                  grad=self.needs_gradients)
            relevance = self._relevance(attentions, gradients, params)
            prefix, gh, gw = patch_grid(relevance.shape[-1], size)
            maps.append(relevance[:, 0, prefix:].reshape(-1, gh, gw))
            outputs.append(out)
            used.append(t_used)
            params["prefix_tokens"] = prefix
        return Attribution(np.concatenate(maps).astype(np.float32), np.concatenate(outputs),
                           np.concatenate(used).astype(np.int64), at_layer=True)


class AttentionRollout(_AttentionMethod, schema=MethodSchema(
        "attention_rollout", "Attention rollout",
        "The class token's attention to the image patches through every block: the product of the blocks' "
        "head-fused attention matrices, each mixed half and half with the identity for the residual connection; "
        "class-agnostic. Transformers exposing attention weights only.",
        "Abnar & Zuidema, 'Quantifying Attention Flow in Transformers', ACL 2020.",
        signed=False, cost="1 forward pass",
        params=(Param("head_fusion", "choice", "mean", "How the heads' attention weights are combined per block: "
                      "their 'mean' (the paper's), 'max' or 'min'.", choices=("mean", "max", "min")),
                Param("discard_ratio", "float", 0.0, "Fraction of each block's fused attention weights (the lowest) "
                      "set to 0 before the rollout (never the class token's attention to itself).",
                      low=0.0, high=0.99)),
        needs=ATTENTION, view="positive", floor_fn=attention_pass_floor(False),
        formula="R = prod_l norm(0.5 fuse_h(A_l) + 0.5 I),  map = R[cls, patches]",
        docs=DocsEntry("Attention rollout", "class token's attention to the patches through every block (transformers)",
                       "1 forward", "Abnar & Zuidema 2020"))):
    """Attention rollout: the class token's attention to the patches, rolled out through every block.

    Per block the heads' weights are fused (``head_fusion``), the lowest
    ``discard_ratio`` fraction set to 0, the residual connection added
    (:math:`0.5 A + 0.5 I`, rows renormalised) and the blocks multiplied from the first;
    the map is the class token's row over the patch tokens (class, distillation and
    register tokens dropped; their count is recorded as ``prefix_tokens``), upsampled
    to the input. Class-agnostic: the targets are recorded, not used. Not min-max
    scaled (Gildenblat's ``vit-explain`` divides by the maximum). One forward pass.

    Parameters
    ----------
    model
        A vision transformer exposing its attention (torchvision ViT, timm ViT/DeiT,
        Hugging Face ViT/DeiT).
    head_fusion : {"mean", "max", "min"}
    discard_ratio : float, default 0
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
        Recorded only.

    References
    ----------
    Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020.
    """

    def _relevance(self, attentions: list[np.ndarray], gradients: list[np.ndarray] | None,
                   params: dict[str, Any]) -> np.ndarray:
        return attention_rollout(attentions, params["head_fusion"], params["discard_ratio"])


class GenericAttention(_AttentionMethod, schema=MethodSchema(
        "generic_attention", "Generic attention explainability (gradient-weighted attention)",
        "Relevance propagated through the blocks' attention: each block's attention weighted by the target "
        "score's gradient with respect to it, rectified and averaged over heads, updates R <- R + A R from R = I; "
        "the class token's row over the patches. Transformers exposing attention weights only.",
        "Chefer, Gur & Wolf, 'Generic Attention-model Explainability for Interpreting Bi-Modal and "
        "Encoder-Decoder Transformers', ICCV 2021.",
        signed=False, cost="1 forward + 1 backward pass (to the attention weights)",
        needs=ATTENTION | {"gradients"}, view="positive", floor_fn=attention_pass_floor(True),
        formula="A~_l = mean_h (dS_t/dA_l * A_l)^+,  R_l = R_{l-1} + A~_l R_{l-1},  R_0 = I,  "
                "map = R_L[cls, patches]",
        docs=DocsEntry("Generic attention explainability",
                       "gradient-weighted attention propagated through the blocks (transformers)",
                       "1 forward + 1 backward", "Chefer et al. 2021"))):
    """Chefer et al.'s generic attention explainability for self-attention (ViT).

    From :math:`R = I`, each block's attention :math:`A` weighted by the target score's
    gradient with respect to it, rectified and averaged over the heads,
    :math:`\\bar A = E_h[(\\nabla A \\odot A)^+]`, updates :math:`R \\leftarrow R + \\bar A R`;
    the map is the class token's row of :math:`R` over the patches, upsampled to the
    input. One forward and one backward pass.

    Parameters
    ----------
    model
        A vision transformer exposing its attention.
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Chefer, Gur & Wolf, "Generic Attention-model Explainability for Interpreting Bi-Modal
    and Encoder-Decoder Transformers", ICCV 2021.
    """

    needs_gradients = True

    def _relevance(self, attentions: list[np.ndarray], gradients: list[np.ndarray] | None,
                   params: dict[str, Any]) -> np.ndarray:
        assert gradients is not None
        return generic_attention_relevance(attentions, gradients)
