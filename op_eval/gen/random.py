"""Op-eval cases for the random family.

A sampler cannot be compared with an external RNG, so every case is deterministic by construction and its
expectation follows from the distribution's definition (NumPy): Bernoulli with p = 0 or 1, a normal with
stddev 0 (all values == mean), a uniform with low == high (all == low, per coremltools' docstring), a categorical
whose rows put all their mass on one class (one finite logit, or one-hot probabilities). Distribution statistics
and seeding are unit-tested in tests/backends/random_test.cc."""
import numpy as np

from common import const, tensor

F32, F16 = np.float32, np.float16


def gen_bernoulli(emit):
    shape = np.array([2, 3, 4], np.int32)
    emit("random_bernoulli", "prob_one", {"shape": const(shape), "prob": const(F32(1.0)), "seed": const(np.int32(7))},
         [np.ones(shape, F32)])
    emit("random_bernoulli", "prob_zero", {"shape": const(shape), "prob": const(F32(0.0)), "seed": const(np.int32(7))},
         [np.zeros(shape, F32)])
    emit("random_bernoulli", "fp16_runtime_shape",
         {"shape": tensor(np.array([5, 2], np.int32)), "prob": const(F16(1.0))}, [np.ones((5, 2), F16)],
         note="shape is a function input: output dims unknown at compile time; default seed -1")
    emit("random_bernoulli", "ios15_scalar_dim", {"shape": const(np.array([7], np.int32)), "prob": const(F32(0.0))},
         [np.zeros((7,), F32)], opset="ios15")


def gen_normal(emit):
    shape = np.array([3, 4], np.int32)
    emit("random_normal", "stddev_zero",
         {"shape": const(shape), "mean": const(F32(1.25)), "stddev": const(F32(0.0)), "seed": const(np.int32(3))},
         [np.full(shape, 1.25, F32)])
    emit("random_normal", "fp16_negative_mean",
         {"shape": const(np.array([2, 2, 2], np.int32)), "mean": const(F16(-3.5)), "stddev": const(F16(0.0))},
         [np.full((2, 2, 2), -3.5, F16)])
    emit("random_normal", "runtime_shape",
         {"shape": tensor(np.array([4, 1], np.int32)), "mean": const(F32(0.5)), "stddev": const(F32(0.0)),
          "seed": const(np.int32(11))},
         [np.full((4, 1), 0.5, F32)], opset="ios15")


def gen_uniform(emit):
    shape = np.array([2, 5], np.int32)
    emit("random_uniform", "low_equals_high",
         {"shape": const(shape), "low": const(F32(2.0)), "high": const(F32(2.0)), "seed": const(np.int32(5))},
         [np.full(shape, 2.0, F32)], note="coremltools: when high == low, values of low are returned")
    emit("random_uniform", "fp16_low_equals_high",
         {"shape": const(np.array([3], np.int32)), "low": const(F16(-0.75)), "high": const(F16(-0.75))},
         [np.full((3,), -0.75, F16)])
    emit("random_uniform", "runtime_shape",
         {"shape": tensor(np.array([1, 2, 3], np.int32)), "low": const(F32(-1.0)), "high": const(F32(-1.0)),
          "seed": const(np.int32(9))},
         [np.full((1, 2, 3), -1.0, F32)], opset="ios16")


def gen_categorical(emit):
    # Logits with one finite entry per row: that class has probability 1.
    cls = np.array([[2, 0, 3], [1, 1, 0]])
    logits = np.full((2, 3, 4), -np.inf, F32)
    for i in range(2):
        for j in range(3):
            logits[i, j, cls[i, j]] = 0.5 * (i - j)
    emit("random_categorical", "one_finite_logit",
         {"x": tensor(logits), "size": const(np.int32(5)), "seed": const(np.int32(1))},
         [np.repeat(cls[..., None], 5, axis=2).astype(F32)], note="outputs are class indices in x's dtype")
    probs = np.zeros((4, 6), F32)
    cls1 = np.array([5, 0, 2, 2])
    probs[np.arange(4), cls1] = 1.0
    emit("random_categorical", "one_hot_probs",
         {"x": tensor(probs), "mode": const("probs"), "size": const(np.int32(3)), "seed": const(np.int32(2))},
         [np.repeat(cls1[:, None], 3, axis=1).astype(F32)])
    ph = np.array([0.0, 0.0, 0.25, 0.0], F16)  # unnormalized: all mass on class 2
    emit("random_categorical", "fp16_rank1_defaults", {"x": tensor(ph), "mode": const("probs")},
         [np.array([2.0], F16)], note="size defaults to 1: output shape [1]")


def generate(emit):
    gen_bernoulli(emit)
    gen_normal(emit)
    gen_uniform(emit)
    gen_categorical(emit)
