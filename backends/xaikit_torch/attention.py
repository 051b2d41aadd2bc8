"""Attention weights of vision transformers, captured during one pass (attention rollout, Chefer et al.).

Three families expose them, each differently:

- ``torch.nn.MultiheadAttention`` (torchvision's ViT calls it with ``need_weights=False``):
  a forward hook recomputes the self-attention from the module's own weights --
  ``softmax(q k^T / sqrt(d)) v`` then ``out_proj``, what the module computes without
  masks or dropout -- and returns it, so the weights it captures are the ones the
  output depends on (their gradient is the score's gradient through the attention);
- timm's ``Attention`` (``fused_attn``, ``attn_drop``): its unfused path is switched on
  for the pass and the output of ``attn_drop`` (the softmaxed attention that multiplies
  ``v``) is captured;
- Hugging Face attention modules (``...Attention`` returning ``(output, weights)``): the
  model's ``config._attn_implementation`` is ``"eager"`` for the pass (SDPA returns no
  weights) and the weights are captured from the module's output.

Switches are reference-counted and put back when the last pass leaves; hooks act only in
the thread that installed them. A model with none of these modules has no attention
weights the backend can read: :func:`attention_modules` raises naming the families.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from xaikit.errors import ModelError

from .passes import PassState

__all__ = ["attention_modules", "capture_attention"]


def _is_timm(module: nn.Module) -> bool:
    return hasattr(module, "fused_attn") and isinstance(getattr(module, "attn_drop", None), nn.Module) and \
        hasattr(module, "qkv")


def _is_hf(module: nn.Module) -> bool:
    cls = type(module)
    return cls.__module__.startswith("transformers.") and cls.__name__.endswith("Attention") and \
        hasattr(module, "config")


def attention_modules(modules: dict[str, nn.Module], model_name: str) -> list[tuple[str, str]]:
    """``(path, family)`` of the attention modules in model order; :class:`ModelError` if there are none."""
    found: list[tuple[str, str]] = []
    for name, module in modules.items():
        if isinstance(module, nn.MultiheadAttention):
            found.append((name, "mha"))
        elif _is_timm(module):
            found.append((name, "timm"))
        elif _is_hf(module):
            found.append((name, "hf"))
    hf = [n for n, f in found if f == "hf"]  # an HF attention wrapping another: the inner one returns the weights
    found = [(n, f) for n, f in found if f != "hf" or not any(o.startswith(n + ".") for o in hf)]
    if not found:
        raise ModelError(f"model {model_name!r} exposes no attention weights the torch backend can read: attention "
                         "methods need a transformer with torch.nn.MultiheadAttention (torchvision's ViT), timm's "
                         "Attention or a Hugging Face attention module. Use a CAM or a gradient method instead.")
    return found


class _Switch:
    """``setattr(obj, attr, value)`` while any pass needs it (reference-counted), the old value put back after."""

    _lock = threading.Lock()
    _state: dict[tuple[int, str], list[Any]] = {}

    def __init__(self, obj: Any, attr: str, value: Any) -> None:
        self.obj, self.attr, self.value = obj, attr, value

    def __enter__(self) -> None:
        key = (id(self.obj), self.attr)
        with self._lock:
            entry = self._state.get(key)
            if entry is None:
                self._state[key] = [1, getattr(self.obj, self.attr)]
                setattr(self.obj, self.attr, self.value)
            else:
                entry[0] += 1

    def __exit__(self, *exc: object) -> None:
        key = (id(self.obj), self.attr)
        with self._lock:
            entry = self._state[key]
            entry[0] -= 1
            if entry[0] == 0:
                setattr(self.obj, self.attr, entry[1])
                del self._state[key]


def _mha_recomputed(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-attention of an ``nn.MultiheadAttention`` from its weights: ``(output, weights (N, heads, T, S))``."""
    if not module.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    n, t, e = query.shape
    heads = module.num_heads
    if module.in_proj_weight is not None:
        w_q, w_k, w_v = module.in_proj_weight.chunk(3)
    else:
        w_q, w_k, w_v = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
    b_q, b_k, b_v = (None, None, None) if module.in_proj_bias is None else module.in_proj_bias.chunk(3)
    q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    q, k, v = (a.reshape(n, a.shape[1], heads, -1).transpose(1, 2) for a in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(n, t, e)
    out = module.out_proj(out)
    if not module.batch_first:
        out = out.transpose(0, 1)
    return out, weights


@contextlib.contextmanager
def capture_attention(model: nn.Module, modules: dict[str, nn.Module], found: list[tuple[str, str]], state: PassState
                      ) -> Iterator[list[str]]:
    """Hooks and switches recording each attention module's weights in ``state.outputs["attention:" + path]``."""
    handles: list[Any] = []
    switches: list[_Switch] = []

    def mha_hook(name: str) -> Any:
        def hook(module: nn.MultiheadAttention, args: tuple[Any, ...], *rest: Any) -> Any:
            # ``rest`` is ``(kwargs, output)``. torch registers a hook before it marks the hook as taking keyword
            # arguments, so another thread's forward on the same module can call it as ``(module, args, output)``
            # in between: that call is never this pass's (it is registered before this pass runs).
            if len(rest) != 2 or not state.mine():
                return None
            kwargs = rest[0]
            q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")[len(args):]])[:3]
            if kwargs.get("attn_mask") is not None or kwargs.get("key_padding_mask") is not None or \
                    module.bias_k is not None or module.add_zero_attn:
                raise ModelError(f"attention module {name!r} uses masks or extra key biases; the attention methods "
                                 "read plain self-attention only")
            out, weights = _mha_recomputed(module, q, k, v)
            state.outputs["attention:" + name] = weights
            return out, weights
        return hook

    def timm_hook(name: str) -> Any:
        def hook(_: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if state.mine():
                state.outputs["attention:" + name] = output
        return hook

    def hf_hook(name: str) -> Any:
        def hook(_: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not state.mine():
                return
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if not isinstance(weights, torch.Tensor):
                raise ModelError(f"attention module {name!r} returned no attention weights (its implementation "
                                 "cannot give them); the attention methods need eager attention")
            state.outputs["attention:" + name] = weights
        return hook

    try:
        for name, family in found:
            module = modules[name]
            if family == "mha":
                handles.append(module.register_forward_hook(mha_hook(name), with_kwargs=True))
            elif family == "timm":
                switches.append(_Switch(module, "fused_attn", False))
                handles.append(module.attn_drop.register_forward_hook(timm_hook(name)))
            else:
                config = module.config
                if not any(s.obj is config for s in switches):
                    switches.append(_Switch(config, "_attn_implementation", "eager"))
                handles.append(module.register_forward_hook(hf_hook(name)))
        with contextlib.ExitStack() as stack:
            for switch in switches:
                stack.enter_context(switch)
            yield [name for name, _ in found]
    finally:
        for handle in handles:
            handle.remove()
