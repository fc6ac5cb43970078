"""Op-eval cases for the control family: const, cond, while_loop, the list ops and classify.

Nested blocks and lists need several ops, so most cases are whole MIL text programs ("program"); expected
outputs are the outputs of `main`, computed here with NumPy / plain Python loops that mirror the program.
Semantics (coremltools iOS15 control_flow.py / classify.py):
  cond: runs the then block if pred else the else block; while_loop: cond block first, then body, until
  cond is false (zero iterations possible); make_list(init_length, dynamic_length, elem_shape, dtype);
  list_write past the end grows a dynamic list; list_gather stacks elements; list_scatter writes rows;
  classify -> (class with the largest probability, first on ties like np.argmax; dict class -> fp64 prob).
"""
import numpy as np

from common import const_list, dct, lst, rng, tensor

ORACLE = "numpy"


def prog(params, body, outputs, version="1.3", opset="ios18"):
    lines = "\n".join("            " + l for l in body.strip().splitlines())
    return (f"program({version})\n{{\n    func main<{opset}>({params}) {{\n{lines}\n"
            f"        }} -> ({outputs});\n}}\n")


def gen_const(emit):
    a = rng(1).normal(size=(2, 3)).astype(np.float32)
    emit("const", "fp32_2x3", {}, [a], oracle=ORACLE, attributes={"val": tensor(a)})
    h = np.float16(-3.140625)
    emit("const", "fp16_scalar", {}, [h], oracle=ORACLE, attributes={"val": tensor(h)})
    q = np.array([-8, -1, 0, 7, 3], np.int8)
    emit("const", "int4_vector", {}, [tensor(q, dtype="int4")], oracle=ORACLE,
         attributes={"val": tensor(q, dtype="int4")})
    emit("const", "string_scalar", {}, [tensor("same_lower")], oracle=ORACLE,
         attributes={"val": tensor("same_lower")})
    b = np.array([True, False, True])
    emit("const", "bool_vector", {}, [b], oracle=ORACLE, attributes={"val": tensor(b)})
    u = np.array([[0, 255], [128, 7]], np.uint8)
    emit("const", "uint8_2x2", {}, [u], oracle=ORACLE, attributes={"val": tensor(u)})
    # MIL text literals: hex floats, nested brackets, the legacy program(1.0) scalar spelling.
    p = prog("", """
tensor<fp32, [2, 2]> m = const()[name = tensor<string, []>("m"), val = tensor<fp32, [2, 2]>([[0x1.8p+0, -0x1p-2], [0x0p+0, 0x1.4p+3]])];
tensor<int32, []> k = const()[name = tensor<string, []>("k"), val = tensor<int32, []>(-7)];
""", "m, k", version="1.0", opset="ios17")
    emit("const", "text_hex_floats_legacy_dialect", {}, [np.array([[1.5, -0.25], [0.0, 10.0]], np.float32),
                                                         np.int32(-7)], oracle=ORACLE, program=p)


def gen_cond(emit):
    x = rng(2).normal(size=(2, 3)).astype(np.float32)
    p = prog("bool pred, tensor<fp32, [2, 3]> x", """
fp32 two = const()[name = string("two"), val = fp32(2.0)];
fp32 one = const()[name = string("one"), val = fp32(1.0)];
tensor<fp32, [2, 3]> y = cond(pred = pred)[name = string("branch")]
    {
        tensor<fp32, [2, 3]> t = mul(x = x, y = two)[name = string("t")];
    } -> (t)
    {
        tensor<fp32, [2, 3]> f = add(x = x, y = one)[name = string("f")];
    } -> (f);
""", "y")
    emit("cond", "true_branch", {"pred": tensor(np.bool_(True)), "x": tensor(x)}, [x * np.float32(2)],
         oracle=ORACLE, program=p)
    emit("cond", "false_branch", {"pred": tensor(np.bool_(False)), "x": tensor(x)}, [x + np.float32(1)],
         oracle=ORACLE, program=p)

    # Two outputs; the else branch returns outer values directly.
    a = rng(3).normal(size=(3,)).astype(np.float32)
    b = rng(4).integers(-5, 5, size=(3,)).astype(np.int32)
    p = prog("tensor<fp32, [3]> a, tensor<int32, [3]> b", """
fp32 zero = const()[name = string("zero"), val = fp32(0.0)];
tensor<fp32, []> s = reduce_sum(x = a)[name = string("s")];
bool pos = greater(x = s, y = zero)[name = string("pos")];
tensor<fp32, [3]> ya, tensor<int32, [3]> yb = cond(pred = pos)[name = string("branch")]
    {
        tensor<fp32, [3]> na = sub(x = zero, y = a)[name = string("na")];
        tensor<int32, [3]> bb = mul(x = b, y = b)[name = string("bb")];
    } -> (na, bb)
    {
    } -> (a, b);
""", "ya, yb")
    pos = a.sum() > 0
    emit("cond", "two_outputs_passthrough_branch", {"a": tensor(a), "b": tensor(b)},
         [-a if pos else a, b * b if pos else b], oracle=ORACLE, program=p)
    a2 = -np.abs(a) if pos else np.abs(a)  # the other branch
    pos2 = a2.sum() > 0
    emit("cond", "two_outputs_other_branch", {"a": tensor(a2), "b": tensor(b)},
         [-a2 if pos2 else a2, b * b if pos2 else b], oracle=ORACLE, program=p)

    # Legacy program(1.0) dialect, iOS15 opset.
    x = rng(5).normal(size=(4,)).astype(np.float32)
    p = prog("tensor<bool, []> pred, tensor<fp32, [4]> x", """
tensor<fp32, [4]> y = cond(pred = pred)[name = tensor<string, []>("branch")]
    {
        tensor<fp32, [4]> r = relu(x = x)[name = tensor<string, []>("r")];
    } -> (r)
    {
        tensor<fp32, [4]> n = abs(x = x)[name = tensor<string, []>("n")];
    } -> (n);
""", "y", version="1.0", opset="ios15")
    emit("cond", "legacy_dialect_ios15", {"pred": tensor(np.bool_(False)), "x": tensor(x)}, [np.abs(x)],
         oracle=ORACLE, program=p)


WHILE_COUNTER = """
int32 zero = const()[name = string("zero"), val = int32(0)];
int32 one = const()[name = string("one"), val = int32(1)];
fp32 half = const()[name = string("half"), val = fp32(0.5)];
int32 i_out, tensor<fp32, [2]> acc_out = while_loop(loop_vars = (zero, x))[name = string("loop")]
    (int32 i_c, tensor<fp32, [2]> acc_c) {
        bool go = less(x = i_c, y = n)[name = string("go")];
    } -> (go)
    (int32 i_b, tensor<fp32, [2]> acc_b) {
        int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
        tensor<fp32, [2]> h = mul(x = acc_b, y = half)[name = string("h")];
        tensor<fp32, [2]> acc_n = add(x = h, y = x)[name = string("acc_n")];
    } -> (i_n, acc_n);
"""


def gen_while(emit):
    x = rng(6).normal(size=(2,)).astype(np.float32)
    p = prog("int32 n, tensor<fp32, [2]> x", WHILE_COUNTER, "i_out, acc_out")
    for n, name in ((5, "counter_5_iterations"), (0, "zero_iterations"), (1, "one_iteration")):
        i, acc = 0, x.copy()
        while i < n:
            i += 1
            acc = acc * np.float32(0.5) + x
        emit("while_loop", name, {"n": tensor(np.int32(n)), "x": tensor(x)}, [np.int32(i), acc],
             oracle=ORACLE, program=p)

    # A cond nested in the body: add x on even steps, subtract it on odd ones.
    x = rng(7).normal(size=(3,)).astype(np.float32)
    p = prog("tensor<fp32, [3]> x", """
int32 zero = const()[name = string("zero"), val = int32(0)];
int32 one = const()[name = string("one"), val = int32(1)];
int32 two = const()[name = string("two"), val = int32(2)];
int32 five = const()[name = string("five"), val = int32(5)];
tensor<fp32, [3]> acc0 = const()[name = string("acc0"), val = tensor<fp32, [3]>([0.0, 0.0, 0.0])];
int32 i_out, tensor<fp32, [3]> acc_out = while_loop(loop_vars = (zero, acc0))[name = string("loop")]
    (int32 i_c, tensor<fp32, [3]> a_c) {
        bool go = less(x = i_c, y = five)[name = string("go")];
    } -> (go)
    (int32 i_b, tensor<fp32, [3]> a_b) {
        int32 m = mod(x = i_b, y = two)[name = string("m")];
        bool even = equal(x = m, y = zero)[name = string("even")];
        tensor<fp32, [3]> a_n = cond(pred = even)[name = string("pick")]
            {
                tensor<fp32, [3]> p = add(x = a_b, y = x)[name = string("p")];
            } -> (p)
            {
                tensor<fp32, [3]> q = sub(x = a_b, y = x)[name = string("q")];
            } -> (q);
        int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
    } -> (i_n, a_n);
""", "i_out, acc_out")
    acc = np.zeros(3, np.float32)
    for i in range(5):
        acc = acc + x if i % 2 == 0 else acc - x
    emit("while_loop", "nested_cond_in_body", {"x": tensor(x)}, [np.int32(5), acc], oracle=ORACLE, program=p)


LIST_LOOP = """
int32 zero = const()[name = string("zero"), val = int32(0)];
int32 one = const()[name = string("one"), val = int32(1)];
int32 four = const()[name = string("four"), val = int32(4)];
tensor<int32, [4]> idx = const()[name = string("idx"), val = tensor<int32, [4]>([3, 2, 1, 0])];
list<tensor<fp32, [3]>, ?> ls0 = make_list(dtype = string("fp32"), dynamic_length = bool(true), elem_shape = (int32(3)), init_length = int32(0))[name = string("ls0")];
int32 i_out, tensor<fp32, [3]> v_out, list<tensor<fp32, [3]>, ?> ls_out = while_loop(loop_vars = (zero, x, ls0))[name = string("loop")]
    (int32 i_c, tensor<fp32, [3]> v_c, list<tensor<fp32, [3]>, ?> l_c) {
        bool go = less(x = i_c, y = four)[name = string("go")];
    } -> (go)
    (int32 i_b, tensor<fp32, [3]> v_b, list<tensor<fp32, [3]>, ?> l_b) {
        list<tensor<fp32, [3]>, ?> l_n = list_write(index = i_b, ls = l_b, value = v_b)[name = string("l_n")];
        tensor<fp32, [3]> v_n = mul(x = v_b, y = x)[name = string("v_n")];
        int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
    } -> (i_n, v_n, l_n);
int32 len = list_length(ls = ls_out)[name = string("len")];
tensor<fp32, [4, 3]> g = list_gather(indices = idx, ls = ls_out)[name = string("g")];
"""


def gen_lists(emit):
    # while_loop accumulating a dynamic list: [x, x^2, x^3, x^4].
    x = rng(8).uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    powers = [x]
    for _ in range(3):
        powers.append(powers[-1] * x)
    p = prog("tensor<fp32, [3]> x", LIST_LOOP, "len, g, ls_out")
    emit("while_loop", "builds_a_list", {"x": tensor(x)},
         [np.int32(4), np.stack(powers[::-1]), lst(*powers)], oracle=ORACLE, program=p)

    # make_list: a fixed-length list reports init_length; a dynamic one with the default init_length has 1.
    p = prog("", """
list<tensor<int32, [2, 2]>, 3> ls = make_list(dtype = string("int32"), dynamic_length = bool(false), elem_shape = (int32(2), int32(2)), init_length = int32(3))[name = string("ls")];
int32 n = list_length(ls = ls)[name = string("n")];
""", "n")
    emit("make_list", "fixed_length_3", {}, [np.int32(3)], oracle=ORACLE, program=p)
    p = prog("", """
list<tensor<fp16, [4]>, ?> ls = make_list(elem_shape = (int32(4)))[name = string("ls")];
int32 n = list_length(ls = ls)[name = string("n")];
""", "n")
    emit("make_list", "defaults_fp32_dynamic_length_1", {}, [np.int32(1)], oracle=ORACLE, program=p.replace(
        "fp16", "fp32"))

    # A symbolic element dim (string in elem_shape), written and read back.
    v = rng(9).normal(size=(3, 2)).astype(np.float32)
    p = prog("tensor<fp32, [3, 2]> v", """
int32 zero = const()[name = string("zero"), val = int32(0)];
list<tensor<fp32, [?, 2]>, ?> ls = make_list(dtype = string("fp32"), dynamic_length = bool(true), elem_shape = (string("S"), int32(2)), init_length = int32(0))[name = string("ls")];
list<tensor<fp32, [?, 2]>, ?> ls1 = list_write(index = zero, ls = ls, value = v)[name = string("ls1")];
tensor<fp32, [?, 2]> r = list_read(index = zero, ls = ls1)[name = string("r")];
""", "r")
    emit("make_list", "symbolic_elem_dim", {"v": tensor(v)}, [v], oracle=ORACLE, program=p)

    # list_write: the output list itself, element by element.
    a = rng(10).integers(-9, 9, size=(2,)).astype(np.int32)
    b = rng(11).integers(-9, 9, size=(2,)).astype(np.int32)
    p = prog("tensor<int32, [2]> a, tensor<int32, [2]> b", """
int32 zero = const()[name = string("zero"), val = int32(0)];
int32 one = const()[name = string("one"), val = int32(1)];
list<tensor<int32, [2]>, ?> ls = make_list(dtype = string("int32"), dynamic_length = bool(true), elem_shape = (int32(2)), init_length = int32(0))[name = string("ls")];
list<tensor<int32, [2]>, ?> l1 = list_write(index = zero, ls = ls, value = a)[name = string("l1")];
list<tensor<int32, [2]>, ?> l2 = list_write(index = one, ls = l1, value = b)[name = string("l2")];
""", "l2")
    emit("list_write", "two_writes_list_output", {"a": tensor(a), "b": tensor(b)}, [lst(a, b)], oracle=ORACLE,
         program=p)

    # list_write past the end grows a dynamic list; overwrite an existing slot of a fixed list.
    v = rng(12).normal(size=(2, 2)).astype(np.float16)
    w = rng(13).normal(size=(2, 2)).astype(np.float16)
    p = prog("tensor<fp16, [2, 2]> v, tensor<fp16, [2, 2]> w", """
int32 two = const()[name = string("two"), val = int32(2)];
list<tensor<fp16, [2, 2]>, 3> ls = make_list(dtype = string("fp16"), dynamic_length = bool(false), elem_shape = (int32(2), int32(2)), init_length = int32(3))[name = string("ls")];
list<tensor<fp16, [2, 2]>, 3> l1 = list_write(index = two, ls = ls, value = v)[name = string("l1")];
list<tensor<fp16, [2, 2]>, 3> l2 = list_write(index = two, ls = l1, value = w)[name = string("l2")];
tensor<fp16, [2, 2]> r1 = list_read(index = two, ls = l1)[name = string("r1")];
tensor<fp16, [2, 2]> r2 = list_read(index = two, ls = l2)[name = string("r2")];
int32 n = list_length(ls = l2)[name = string("n")];
""", "r1, r2, n")
    emit("list_write", "overwrite_fixed_list_values_are_immutable", {"v": tensor(v), "w": tensor(w)},
         [v, w, np.int32(3)], oracle=ORACLE, program=p)
    p = prog("tensor<fp32, [2]> v", """
int32 five = const()[name = string("five"), val = int32(5)];
list<tensor<fp32, [2]>, ?> ls = make_list(dtype = string("fp32"), dynamic_length = bool(true), elem_shape = (int32(2)), init_length = int32(1))[name = string("ls")];
list<tensor<fp32, [2]>, ?> l1 = list_write(index = five, ls = ls, value = v)[name = string("l1")];
int32 n = list_length(ls = l1)[name = string("n")];
tensor<fp32, [2]> r = list_read(index = five, ls = l1)[name = string("r")];
""", "n, r")
    v2 = rng(14).normal(size=(2,)).astype(np.float32)
    emit("list_length", "grows_on_write_past_end", {"v": tensor(v2)}, [np.int32(6), v2], oracle=ORACLE, program=p)

    # list_read / list_gather / list_scatter on a list of three rows.
    rows = rng(15).normal(size=(3, 4)).astype(np.float32)
    head = """
int32 i0 = const()[name = string("i0"), val = int32(0)];
int32 i1 = const()[name = string("i1"), val = int32(1)];
int32 i2 = const()[name = string("i2"), val = int32(2)];
list<tensor<fp32, [4]>, ?> ls = make_list(dtype = string("fp32"), dynamic_length = bool(true), elem_shape = (int32(4)), init_length = int32(0))[name = string("ls")];
list<tensor<fp32, [4]>, ?> l1 = list_write(index = i0, ls = ls, value = a)[name = string("l1")];
list<tensor<fp32, [4]>, ?> l2 = list_write(index = i1, ls = l1, value = b)[name = string("l2")];
list<tensor<fp32, [4]>, ?> l3 = list_write(index = i2, ls = l2, value = c)[name = string("l3")];
"""
    params = "tensor<fp32, [4]> a, tensor<fp32, [4]> b, tensor<fp32, [4]> c"
    ins = {"a": tensor(rows[0]), "b": tensor(rows[1]), "c": tensor(rows[2])}
    p = prog(params, head + """
tensor<fp32, [4]> r2 = list_read(index = i2, ls = l3)[name = string("r2")];
tensor<fp32, [4]> r0 = list_read(index = i0, ls = l3)[name = string("r0")];
""", "r2, r0")
    emit("list_read", "reads_back_writes", ins, [rows[2], rows[0]], oracle=ORACLE, program=p)
    p = prog(params, head + """
tensor<int32, [5]> gi = const()[name = string("gi"), val = tensor<int32, [5]>([1, 1, 0, 2, 1])];
tensor<fp32, [5, 4]> g = list_gather(indices = gi, ls = l3)[name = string("g")];
""", "g")
    emit("list_gather", "repeated_indices", ins, [rows[[1, 1, 0, 2, 1]]], oracle=ORACLE, program=p)
    p = prog(params, head + """
tensor<int32, [0]> gi = const()[name = string("gi"), val = tensor<int32, [0]>([])];
tensor<fp32, [0, 4]> g = list_gather(indices = gi, ls = l3)[name = string("g")];
""", "g")
    emit("list_gather", "empty_indices", ins, [np.zeros((0, 4), np.float32)], oracle=ORACLE, program=p)
    upd = rng(16).normal(size=(2, 4)).astype(np.float32)
    p = prog(params + ", tensor<fp32, [2, 4]> u", head + """
tensor<int32, [2]> si = const()[name = string("si"), val = tensor<int32, [2]>([2, 0])];
list<tensor<fp32, [4]>, ?> l4 = list_scatter(indices = si, ls = l3, value = u)[name = string("l4")];
tensor<int32, [3]> gi = const()[name = string("gi"), val = tensor<int32, [3]>([0, 1, 2])];
tensor<fp32, [3, 4]> g = list_gather(indices = gi, ls = l4)[name = string("g")];
""", "g, l4")
    after = rows.copy()
    after[2] = upd[0]
    after[0] = upd[1]
    emit("list_scatter", "overwrites_rows", dict(ins, u=tensor(upd)), [after, lst(*after)], oracle=ORACLE,
         program=p)
    # Scatter into an empty dynamic list grows it to the largest index + 1.
    upd = rng(17).integers(0, 2, size=(3, 2)).astype(np.bool_)
    p = prog("tensor<bool, [3, 2]> u", """
tensor<int32, [3]> si = const()[name = string("si"), val = tensor<int32, [3]>([1, 2, 0])];
list<tensor<bool, [2]>, ?> ls = make_list(dtype = string("bool"), dynamic_length = bool(true), elem_shape = (int32(2)), init_length = int32(0))[name = string("ls")];
list<tensor<bool, [2]>, ?> l1 = list_scatter(indices = si, ls = ls, value = u)[name = string("l1")];
int32 n = list_length(ls = l1)[name = string("n")];
""", "l1, n")
    emit("list_scatter", "bool_into_empty_list", {"u": tensor(upd)}, [lst(upd[2], upd[0], upd[1]), np.int32(3)],
         oracle=ORACLE, program=p)


def gen_classify(emit):
    probs = np.array([[0.2, 0.7, 0.1]], np.float32)
    classes = ["cat", "dog", "bird"]
    label = classes[int(np.argmax(probs))]
    emit("classify", "string_classes",
         {"probabilities": tensor(probs), "classes": const_list(*[tensor(c) for c in classes])},
         [tensor(label), dct([(tensor(c), np.float64(p)) for c, p in zip(classes, probs.reshape(-1))])],
         oracle=ORACLE)
    probs = np.array([0.1, 0.4, 0.4, 0.1], np.float32)  # a tie: np.argmax picks the first
    classes = np.array([10, 20, 30, 40], np.int64)
    emit("classify", "int64_classes_tie_first_wins",
         {"probabilities": tensor(probs), "classes": const_list(*[tensor(c) for c in classes])},
         [tensor(classes[int(np.argmax(probs))]), dct([(tensor(c), np.float64(p)) for c, p in zip(classes, probs)])],
         oracle=ORACLE)
    logits = rng(18).normal(size=(5,))
    probs = (np.exp(logits) / np.exp(logits).sum()).astype(np.float32)
    classes = ["a", "b", "c", "d", "e"]
    emit("classify", "softmax_probabilities",
         {"probabilities": tensor(probs), "classes": const_list(*[tensor(c) for c in classes])},
         [tensor(classes[int(np.argmax(probs))]), dct([(tensor(c), np.float64(p)) for c, p in zip(classes, probs)])],
         oracle=ORACLE)


def generate(emit):
    gen_const(emit)
    gen_cond(emit)
    gen_while(emit)
    gen_lists(emit)
    gen_classify(emit)
