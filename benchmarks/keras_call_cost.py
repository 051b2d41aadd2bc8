"""What one compiled TensorFlow call costs on a small model, and whether XLA removes it.

Issue 23 asks every native Keras method to be within 1.3x of its floor at N = 1 on the
64x64 zoo CNN (``shapes_cnn4``). The floor runs the method's model passes in a loop
*inside* one compiled call; a method run by a user is at least one compiled call. This
script measures, on the zoo CNN's Keras model, for a forward pass and for a forward pass
with the input gradient (the passes of vanilla gradients, and of Grad-CAM to one layer):

- ``one call``: one call of the ``tf.function``'s concrete function (what xaikit's Keras
  backend calls: :mod:`xaikit_tensorflow.compiled`);
- ``XLA call``: the same function compiled with ``jit_compile=True``;
- ``in a loop``: the per-pass time of 10 passes unrolled inside one compiled call (how the
  floor runs them).

``one call / in a loop`` is the share of a single-image method's ratio to its floor that no
host-side work of xaikit can remove; ``XLA call / one call`` says whether XLA helps. Rounds
alternate the variants and the median of the rounds is reported (this machine's speed
drifts); run it on an idle machine::

    python benchmarks/keras_call_cost.py [--rounds 7] [--calls 50]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

UNROLLED = 10


def _passes(model: object) -> dict:
    import tensorflow as tf

    def forward(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    def gradient(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x, training=False)[:, 0])
        return tape.gradient(score, x)

    return {"forward": forward, "forward + input gradient": gradient}


def _loop(fn):
    import tensorflow as tf

    def unrolled(x: tf.Tensor) -> tf.Tensor:
        total = tf.constant(0.0)
        for i in range(UNROLLED):   # distinct inputs: no pass can be reused
            total += tf.reduce_sum(fn(x + float(i) * 1e-6))
        return total

    return unrolled


def _time(call, x, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call(x)
    return (time.perf_counter() - start) / calls * 1000


def measure(rounds: int = 7, calls: int = 50, sizes: tuple[int, ...] = (1, 8)) -> list[dict]:
    """One row per (pass, N): the median over ``rounds`` of ms per pass for each variant."""
    import tensorflow as tf

    from xaikit.zoo import load_model

    model = load_model("shapes_cnn4", framework="keras")
    rows = []
    for n in sizes:
        x = tf.constant(np.random.default_rng(0).random((n, 64, 64, 3), dtype=np.float32))
        signature = [tf.TensorSpec(x.shape, tf.float32)]
        for name, fn in _passes(model).items():
            variants = {
                "one call": tf.function(fn, input_signature=signature).get_concrete_function(),
                "XLA call": tf.function(fn, input_signature=signature, jit_compile=True).get_concrete_function(),
                "in a loop": tf.function(_loop(fn), input_signature=signature).get_concrete_function(),
            }
            per_pass = {"one call": 1, "XLA call": 1, "in a loop": UNROLLED}
            times: dict[str, list[float]] = {v: [] for v in variants}
            for call in variants.values():   # warm up: trace, compile, allocate
                for _ in range(5):
                    call(x)
            for _ in range(rounds):
                for variant, call in variants.items():
                    reps = max(1, calls // per_pass[variant])
                    times[variant].append(_time(call, x, reps) / per_pass[variant])
            med = {v: float(np.median(t)) for v, t in times.items()}
            rows.append({"pass": name, "N": n, **med})
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table of :func:`measure`'s rows."""
    lines = ["| passes | N | one call (ms) | XLA call (ms) | in a loop (ms per pass) | one call / loop "
             "| XLA / one call |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['pass']} | {r['N']} | {r['one call']:.2f} | {r['XLA call']:.2f} | {r['in a loop']:.2f} | "
                     f"{r['one call'] / r['in a loop']:.2f}x | {r['XLA call'] / r['one call']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50, help="calls per variant and round")
    args = parser.parse_args()
    print(table(measure(args.rounds, args.calls)))


if __name__ == "__main__":
    main()
