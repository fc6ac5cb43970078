"""Op-eval cases for the state family (read_state, write_state; iOS18).

read_state returns the state's current contents; write_state (no outputs) replaces them. coremltools'
`coreml_update_state(state, value)` is serialized as write_state followed by read_state. Expected values
are plain NumPy arrays: the initial contents, the written data, or NumPy arithmetic on them.
Single-op cases feed a state input ({"state": true}) and check the state afterwards ("expected_states");
the multi-op cases are MIL text programs.
"""
import numpy as np

from common import rng, state, tensor

ORACLE = "numpy"


def generate(emit):
    s = rng(1).normal(size=(2, 3)).astype(np.float16)
    emit("read_state", "fp16_2x3", {"input": state(s)}, [s], oracle=ORACLE)

    s = rng(2).normal(size=(4,)).astype(np.float32)
    emit("read_state", "fp32_vector", {"input": state(s)}, [s], oracle=ORACLE)

    s = rng(3).integers(-100, 100, size=(2, 2)).astype(np.int32)
    emit("read_state", "int32_2x2", {"input": state(s)}, [s], oracle=ORACLE)

    s = np.zeros((1, 4), np.float16)
    d = rng(4).normal(size=(1, 4)).astype(np.float16)
    emit("write_state", "fp16_1x4", {"input": state(s), "data": tensor(d)}, [], oracle=ORACLE,
         expected_states={"input": d})

    s = rng(5).normal(size=(2, 2)).astype(np.float32)
    d = rng(6).normal(size=(2, 2)).astype(np.float32)
    emit("write_state", "fp32_overwrite", {"input": state(s), "data": tensor(d)}, [], oracle=ORACLE,
         expected_states={"input": d})

    # coreml_update_state: the read before the write sees the old value, the read after sees the new one.
    s = rng(7).normal(size=(1, 2, 3)).astype(np.float16)
    x = rng(8).normal(size=(1, 2, 3)).astype(np.float16)
    program = """program(1.3)
{
    func main<ios18>(state<tensor<fp16, [1, 2, 3]>> cache, tensor<fp16, [1, 2, 3]> x) {
            tensor<fp16, [1, 2, 3]> old = read_state(input = cache)[name = string("old")];
            tensor<fp16, [1, 2, 3]> upd = add(x = old, y = x)[name = string("upd")];
            write_state(data = upd, input = cache)[name = string("write")];
            tensor<fp16, [1, 2, 3]> new = read_state(input = cache)[name = string("new")];
        } -> (old, new);
}
"""
    upd = (s + x).astype(np.float16)
    emit("write_state", "update_then_read_program", {"cache": tensor(s), "x": tensor(x)}, [s, upd], oracle=ORACLE,
         program=program, expected_states={"cache": upd})

    # Two accumulating updates in one program (KV-cache style): the final read sees both writes.
    s = np.zeros((2, 4), np.float32)
    k = rng(9).normal(size=(2, 4)).astype(np.float32)
    program = """program(1.3)
{
    func main<ios18>(state<tensor<fp32, [2, 4]>> kv, tensor<fp32, [2, 4]> k) {
            tensor<fp32, [2, 4]> a = read_state(input = kv)[name = string("a")];
            tensor<fp32, [2, 4]> b = add(x = a, y = k)[name = string("b")];
            write_state(data = b, input = kv)[name = string("w1")];
            tensor<fp32, [2, 4]> c = read_state(input = kv)[name = string("c")];
            tensor<fp32, [2, 4]> d = add(x = c, y = k)[name = string("d")];
            write_state(data = d, input = kv)[name = string("w2")];
            tensor<fp32, [2, 4]> e = read_state(input = kv)[name = string("e")];
        } -> (a, e);
}
"""
    emit("read_state", "two_updates_program", {"kv": tensor(s), "k": tensor(k)}, [s, s + k + k], oracle=ORACLE,
         program=program, expected_states={"kv": s + k + k})
