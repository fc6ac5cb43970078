// MIL text printer/parser: exact text in both dialects, literals (hex floats, BLOBFILE, compound
// values), nested blocks, multi-output ops, error positions, truncation fuzzing, and a round trip
// through every registered op.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "mil/op_registry.h"
#include "mil/text.h"
#include "util/float16.h"

namespace ironmill::mil {
namespace {

// ---- helpers ---------------------------------------------------------------------------------------

Value str_val(const std::string& s) { return Value::of(Tensor::scalar_string(s)); }

Operation make_op(const std::string& type, const std::string& name, std::vector<NamedType> outputs,
                  std::map<std::string, Argument> inputs = {}) {
  Operation op;
  op.type = type;
  op.outputs = std::move(outputs);
  op.inputs = std::move(inputs);
  op.attributes["name"] = str_val(name);
  return op;
}
Argument arg_ref(const std::string& n) { return Argument{{Binding::ref(n)}, false}; }
Operation const_op(const std::string& name, Value v) {
  Operation op = make_op("const", name, {{name, v.type}});
  op.attributes["val"] = std::move(v);
  return op;
}

Program parse_ok(const std::string& text) {
  auto r = parse_mil_text(text, "t.mil");
  EXPECT_TRUE(r.ok()) << r.status().message() << "\n--- input ---\n" << text;
  return r.ok() ? std::move(r).value() : Program{};
}
std::string parse_err(const std::string& text) {
  auto r = parse_mil_text(text, "t.mil");
  EXPECT_FALSE(r.ok()) << "parsed unexpectedly:\n" << text;
  return r.ok() ? std::string() : r.status().message();
}
// print(parse(text)) must give `text` back.
void expect_fixed_point(const std::string& text) {
  Program p = parse_ok(text);
  EXPECT_EQ(print_mil_text(p), text);
}

// A small program with a scalar const, a tensor const, a binary op and a reshape.
Program small_program(const std::string& version) {
  Program p;
  p.text_version = version;
  Value::Dict info;
  info.items.push_back({str_val("coremltools-version"), str_val("8.1")});
  Value bi;
  bi.type = Type::dict(Type::scalar(DType::kString), Type::scalar(DType::kString));
  bi.data = info;
  p.attributes["buildInfo"] = bi;
  Function f;
  f.opset = "ios18";
  const Type t = Type::tensor(DType::kFp16, {1, 10});
  f.inputs = {{"x", t}, {"y", t}};
  f.body.operations.push_back(const_op("eps", Value::of(Tensor::scalar_f64(DType::kFp16, 1.0 / 1024))));
  f.body.operations.push_back(make_op("mul", "op_3_cast_fp16", {{"var_3", t}}, {{"x", arg_ref("x")}, {"y", arg_ref("y")}}));
  std::vector<int64_t> shp = {1, 10};
  f.body.operations.push_back(const_op("shp", Value::of(Tensor::from_i64(DType::kInt32, {2}, shp))));
  f.body.operations.push_back(make_op("reshape", "r", {{"r", t}}, {{"shape", arg_ref("shp")}, {"x", arg_ref("var_3")}}));
  f.body.outputs = {"r"};
  p.functions.push_back(std::move(f));
  return p;
}

// ---- exact text ------------------------------------------------------------------------------------

TEST(MilText, PrintsProgram13Exactly) {
  const std::string expected =
      "program(1.3)\n"
      "[buildInfo = dict<string, string>({{\"coremltools-version\", \"8.1\"}})]\n"
      "{\n"
      "    func main<ios18>(tensor<fp16, [1, 10]> x, tensor<fp16, [1, 10]> y) {\n"
      "            fp16 eps = const()[name = string(\"eps\"), val = fp16(0x1p-10)];\n"
      "            tensor<fp16, [1, 10]> var_3 = mul(x = x, y = y)[name = string(\"op_3_cast_fp16\")];\n"
      "            tensor<int32, [2]> shp = const()[name = string(\"shp\"), val = tensor<int32, [2]>([1, 10])];\n"
      "            tensor<fp16, [1, 10]> r = reshape(shape = shp, x = var_3)[name = string(\"r\")];\n"
      "        } -> (r);\n"
      "}\n";
  EXPECT_EQ(print_mil_text(small_program("1.3")), expected);
  expect_fixed_point(expected);
}

TEST(MilText, PrintsProgram10Exactly) {
  const std::string expected =
      "program(1.0)\n"
      "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremltools-version\", \"8.1\"}})]\n"
      "{\n"
      "    func main<ios18>(tensor<fp16, [1, 10]> x, tensor<fp16, [1, 10]> y) {\n"
      "            tensor<fp16, []> eps = const()[name = tensor<string, []>(\"eps\"), val = tensor<fp16, []>(0x1p-10)];\n"
      "            tensor<fp16, [1, 10]> var_3 = mul(x = x, y = y)[name = tensor<string, []>(\"op_3_cast_fp16\")];\n"
      "            tensor<int32, [2]> shp = const()[name = tensor<string, []>(\"shp\"), val = tensor<int32, [2]>([1, "
      "10])];\n"
      "            tensor<fp16, [1, 10]> r = reshape(shape = shp, x = var_3)[name = tensor<string, []>(\"r\")];\n"
      "        } -> (r);\n"
      "}\n";
  EXPECT_EQ(print_mil_text(small_program("1.0")), expected);
  expect_fixed_point(expected);
}

TEST(MilText, ParsesRealCompilerOutput) {
  // coreml-format.md §6.3, with the full buildInfo line of a coremltools 8.1 model.
  const std::string text =
      "program(1.0)\n"
      "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremlc-component-MIL\", \"3402.3.2\"}, "
      "{\"coremlc-version\", \"3402.4.1\"}, {\"coremltools-component-torch\", \"2.5.1\"}, "
      "{\"coremltools-source-dialect\", \"TorchScript\"}, {\"coremltools-version\", \"8.1\"}})]\n"
      "{\n"
      "    func main<ios16>(tensor<fp16, [1, 10]> x, tensor<fp16, [1, 10]> y) {\n"
      "            tensor<fp16, [1, 10]> var_3 = mul(x = x, y = y)[name = tensor<string, []>(\"op_3_cast_fp16\")];\n"
      "        } -> (var_3);\n"
      "}\n";
  Program p = parse_ok(text);
  EXPECT_TRUE(p.legacy_text());
  ASSERT_EQ(p.functions.size(), 1u);
  const Function& f = p.functions[0];
  EXPECT_EQ(f.name, "main");
  EXPECT_EQ(f.opset, "ios16");
  ASSERT_EQ(f.inputs.size(), 2u);
  EXPECT_EQ(f.inputs[1].name, "y");
  EXPECT_EQ(f.inputs[1].type, Type::tensor(DType::kFp16, {1, 10}));
  ASSERT_EQ(f.body.operations.size(), 1u);
  const Operation& op = f.body.operations[0];
  EXPECT_EQ(op.type, "mul");
  EXPECT_EQ(op.name(), "op_3_cast_fp16");
  EXPECT_EQ(op.outputs[0].name, "var_3");
  ASSERT_NE(op.input("x"), nullptr);
  EXPECT_EQ(op.input("x")->bindings[0].name, "x");
  EXPECT_EQ(f.body.outputs, std::vector<std::string>{"var_3"});
  const Value& bi = p.attributes.at("buildInfo");
  ASSERT_TRUE(std::holds_alternative<Value::Dict>(bi.data));
  const auto& items = std::get<Value::Dict>(bi.data).items;
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[2].first.tensor().get_string(0), "coremltools-component-torch");
  EXPECT_EQ(items[2].second.tensor().get_string(0), "2.5.1");
  EXPECT_EQ(items[2].second.type, Type::scalar(DType::kString));
  expect_fixed_point(text);

  // The same program with the compiler's odd indentation and one-line layout still parses.
  std::string squashed;
  for (char c : text) squashed += c == '\n' ? ' ' : c;
  EXPECT_EQ(print_mil_text(parse_ok(squashed)), text);
}

TEST(MilText, ScalarSpellingsFollowTheDialect) {
  // Both spellings parse in either dialect; printing normalises to the program's dialect.
  const std::string body =
      "{\n    func main<ios18>() {\n"
      "            int32 a = const()[name = string(\"a\"), val = tensor<int32, []>(1)];\n"
      "            tensor<bool, []> b = const()[name = string(\"b\"), val = bool(true)];\n"
      "            string s = const()[name = string(\"s\"), val = string(\"valid\")];\n"
      "        } -> (a);\n}\n";
  EXPECT_EQ(print_mil_text(parse_ok("program(1.3)\n" + body)),
            "program(1.3)\n{\n    func main<ios18>() {\n"
            "            int32 a = const()[name = string(\"a\"), val = int32(1)];\n"
            "            bool b = const()[name = string(\"b\"), val = bool(true)];\n"
            "            string s = const()[name = string(\"s\"), val = string(\"valid\")];\n"
            "        } -> (a);\n}\n");
  EXPECT_EQ(print_mil_text(parse_ok("program(1.0)\n" + body)),
            "program(1.0)\n{\n    func main<ios18>() {\n"
            "            tensor<int32, []> a = const()[name = tensor<string, []>(\"a\"), val = tensor<int32, []>(1)];\n"
            "            tensor<bool, []> b = const()[name = tensor<string, []>(\"b\"), val = tensor<bool, []>(true)];\n"
            "            tensor<string, []> s = const()[name = tensor<string, []>(\"s\"), val = tensor<string, "
            "[]>(\"valid\")];\n"
            "        } -> (a);\n}\n");
}

// ---- literals ----------------------------------------------------------------------------------------

// Prints `v` as the value of a const in a 1.3 program and returns the literal text.
std::string literal_text(const Value& v, bool legacy = false) {
  Program p;
  p.text_version = legacy ? "1.0" : "1.3";
  Function f;
  f.body.operations.push_back(const_op("c", v));
  f.body.outputs = {"c"};
  p.functions.push_back(f);
  const std::string s = print_mil_text(p);
  const std::string key = "val = ";
  const size_t a = s.find(key) + key.size();
  const size_t b = s.rfind("];");
  return s.substr(a, b - a);
}
// Parses `lit` as a const value.
Value parse_literal(const std::string& lit) {
  const std::string text = "program(1.3)\n{\n    func main<ios18>() {\n            fp32 c = const()[name = string(\"c\"), val = " +
                           lit + "];\n        } -> (c);\n}\n";
  Program p = parse_ok(text);
  if (p.functions.empty()) return {};
  return p.functions[0].body.operations[0].attributes.at("val");
}
std::string reprint(const std::string& lit) { return literal_text(parse_literal(lit)); }

TEST(MilText, HexFloatLiterals) {
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp32, 3.14159265358979))), "fp32(0x1.921fb6p+1)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp32, 3.14159265358979)), true),
            "tensor<fp32, []>(0x1.921fb6p+1)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, -10000))), "fp16(-0x1.388p+13)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, 1))), "fp16(0x1p+0)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp64, 0.1))), "fp64(0x1.999999999999ap-4)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp32, 0.0))), "fp32(0x0p+0)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp32, -0.0))), "fp32(-0x0p+0)");
  // fp16 subnormals print their exact value, normalised like %a.
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, std::ldexp(1.0, -24)))), "fp16(0x1p-24)");
  EXPECT_EQ(reprint("fp16(0x1.5p-17)"), "fp16(0x1.5p-17)");
  EXPECT_EQ(reprint("fp16(0x1.ff8p-15)"), "fp16(0x1.ff8p-15)");  // largest fp16 subnormal
  EXPECT_EQ(reprint("fp16(0x1.ffcp+15)"), "fp16(0x1.ffcp+15)");  // 65504
  // inf / nan spelling; NaN prints without sign so printing is idempotent.
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, INFINITY))), "fp16(inf)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, -INFINITY))), "fp16(-inf)");
  EXPECT_EQ(literal_text(Value::of(Tensor::scalar_f64(DType::kFp16, NAN))), "fp16(nan)");
  EXPECT_EQ(reprint("fp32(-nan)"), "fp32(nan)");
  EXPECT_EQ(reprint("fp16(65520)"), "fp16(inf)");  // rounds to inf in fp16
  // Decimal input is accepted and printed as hex.
  EXPECT_EQ(reprint("fp16(0.5)"), "fp16(0x1p-1)");
  EXPECT_EQ(reprint("fp32(-1.5e3)"), "fp32(-0x1.77p+10)");
  EXPECT_EQ(reprint("fp32(2)"), "fp32(0x1p+1)");
  EXPECT_EQ(reprint("fp32(.25)"), "fp32(0x1p-2)");
  EXPECT_EQ(reprint("bf16(0x1.02p+0)"), "bf16(0x1.02p+0)");
  EXPECT_EQ(parse_literal(reprint("fp64(0x1p-1074)")).tensor().get_f64(0), std::ldexp(1.0, -1074));  // fp64 subnormal
  EXPECT_EQ(reprint("fp64(0x1.fffffffffffffp+1023)"), "fp64(0x1.fffffffffffffp+1023)");
  EXPECT_EQ(reprint("fp8e4m3fn(448)"), "fp8e4m3fn(0x1.cp+8)");
  // fp16 bits survive exactly.
  Value v = parse_literal("fp16(0x1p-24)");
  EXPECT_EQ(v.tensor().data<uint16_t>()[0], 0x0001);
  v = parse_literal("fp16(-0x1.388p+13)");
  EXPECT_EQ(v.tensor().data<uint16_t>()[0], fp32_to_fp16_bits(-10000.0f));
}

TEST(MilText, IntegerAndOtherLiterals) {
  EXPECT_EQ(reprint("tensor<int8, [3]>([-128, 0, 127])"), "tensor<int8, [3]>([-128, 0, 127])");
  EXPECT_EQ(reprint("tensor<uint1, [4]>([0, 1, 1, 0])"), "tensor<uint1, [4]>([0, 1, 1, 0])");
  EXPECT_EQ(reprint("tensor<int4, [2]>([-8, 7])"), "tensor<int4, [2]>([-8, 7])");
  EXPECT_EQ(reprint("tensor<uint6, [1]>([63])"), "tensor<uint6, [1]>([63])");
  EXPECT_EQ(reprint("int64(-9223372036854775808)"), "int64(-9223372036854775808)");
  EXPECT_EQ(reprint("uint64(18446744073709551615)"), "uint64(18446744073709551615)");
  EXPECT_EQ(reprint("tensor<bool, [2, 2]>([[true, false], [false, true]])"),
            "tensor<bool, [2, 2]>([[true, false], [false, true]])");
  EXPECT_EQ(reprint("tensor<fp16, [2, 2]>([[1, 2], [3, 0.5]])"),
            "tensor<fp16, [2, 2]>([[0x1p+0, 0x1p+1], [0x1.8p+1, 0x1p-1]])");
  // Empty tensors.
  EXPECT_EQ(reprint("tensor<fp32, [0]>([])"), "tensor<fp32, [0]>([])");
  EXPECT_EQ(reprint("tensor<fp32, [2, 0]>([[], []])"), "tensor<fp32, [2, 0]>([[], []])");
  EXPECT_EQ(reprint("tensor<fp32, [0, 3]>([])"), "tensor<fp32, [0, 3]>([])");
  EXPECT_EQ(parse_literal("tensor<fp32, [0, 3]>([])").tensor().shape(), (Shape{0, 3}));
  // A tensor whose own shape disagrees with its (same-size) declared type nests by the type.
  Value odd;
  odd.type = Type::tensor(DType::kInt32, {2, 2});
  odd.data = Tensor::from_i64(DType::kInt32, {4}, std::vector<int64_t>{1, 2, 3, 4});
  EXPECT_EQ(literal_text(odd), "tensor<int32, [2, 2]>([[1, 2], [3, 4]])");
  // Unknown dims / rank: the brackets give the shape.
  Value u = parse_literal("tensor<int32, [?, 2]>([[1, 2], [3, 4], [5, 6]])");
  EXPECT_EQ(u.tensor().shape(), (Shape{3, 2}));
  EXPECT_EQ(u.type, Type::tensor(DType::kInt32, {kUnknownDim, 2}));
  EXPECT_EQ(reprint("tensor<int32, [?, 2]>([[1, 2], [3, 4]])"), "tensor<int32, [?, 2]>([[1, 2], [3, 4]])");
  EXPECT_EQ(reprint("tensor<int32, *>([[1], [2]])"), "tensor<int32, *>([[1], [2]])");
  EXPECT_EQ(parse_literal("tensor<int32, *>(7)").tensor().shape(), Shape{});
  // Strings: escapes, UTF-8 kept, invalid UTF-8 and control bytes escaped.
  Value s = parse_literal("tensor<string, [3]>([\"a\\\"b\\\\c\\n\", \"\xC3\xA9t\xC3\xA9\", \"\\x00\\xff\\x41\"])");
  ASSERT_TRUE(s.is_tensor());
  EXPECT_EQ(s.tensor().get_string(0), "a\"b\\c\n");
  EXPECT_EQ(s.tensor().get_string(1), "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(s.tensor().get_string(2), std::string("\0\xff" "A", 3));
  EXPECT_EQ(literal_text(s), "tensor<string, [3]>([\"a\\\"b\\\\c\\n\", \"\xC3\xA9t\xC3\xA9\", \"\\x00\\xff" "A\"])");
  // Compound values.
  EXPECT_EQ(reprint("list<int64, 3>([0, 1, 2])"), "list<int64, 3>([0, 1, 2])");
  EXPECT_EQ(reprint("list<string, ?>([\"cat\", \"dog\"])"), "list<string, ?>([\"cat\", \"dog\"])");
  EXPECT_EQ(reprint("tuple<int32, tensor<fp32, [2]>>((1, [0x1p+0, 0x1p+1]))"),
            "tuple<int32, tensor<fp32, [2]>>((1, [0x1p+0, 0x1p+1]))");
  // An element whose type differs from the declared one keeps its own type.
  EXPECT_EQ(reprint("tuple<int32>((int32(1), fp16(0x1p+0)))"), "tuple<int32>((1, fp16(0x1p+0)))");
  EXPECT_EQ(reprint("dict<string, tuple<int32, int32>>({{\"a\", tuple<int32, int32>((1, 2))}})"),
            "dict<string, tuple<int32, int32>>({{\"a\", tuple<int32, int32>((1, 2))}})");
  EXPECT_EQ(reprint("dict<string, int32>({})"), "dict<string, int32>({})");
}

TEST(MilText, BlobFileBothDialects) {
  Value v;
  v.type = Type::tensor(DType::kFp32, {500});
  v.data = BlobFileRef{"@model_path/weights/weight.bin", 64};
  EXPECT_EQ(literal_text(v), "tensor<fp32, [500]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = "
                             "uint64(64)))");
  EXPECT_EQ(literal_text(v, true),
            "tensor<fp32, [500]>(BLOBFILE(path = tensor<string, []>(\"@model_path/weights/weight.bin\"), offset = "
            "tensor<uint64, []>(64)))");
  for (bool legacy : {false, true}) {
    Value back = parse_literal(literal_text(v, legacy));
    EXPECT_EQ(back.type, v.type);
    ASSERT_TRUE(std::holds_alternative<BlobFileRef>(back.data));
    EXPECT_EQ(std::get<BlobFileRef>(back.data), std::get<BlobFileRef>(v.data));
  }
  const std::string stmt =
      "program(1.3)\n{\n    func main<ios18>() {\n"
      "            tensor<fp32, [500]> const_1 = const()[name = string(\"const_1\"), val = tensor<fp32, "
      "[500]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];\n"
      "        } -> (const_1);\n}\n";
  expect_fixed_point(stmt);
  // iOS18 constexpr with a BLOBFILE inline binding (coreml-format.md §6.2).
  expect_fixed_point(
      "program(1.3)\n{\n    func main<ios18>() {\n"
      "            tensor<fp16, [32, 32]> w = constexpr_sparse_to_dense(mask = tensor<uint1, [32, "
      "32]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64))), nonzero_data = "
      "tensor<fp16, [3]>([0x1p+0, 0x1p+1, 0x1.8p+1]))[name = string(\"w\")];\n"
      "        } -> (w);\n}\n");
}

// ---- structure -----------------------------------------------------------------------------------

TEST(MilText, MultiOutputTupleBindingsAndQuotedNames) {
  const std::string text =
      "program(1.3)\n{\n"
      "    func main<ios18>(tensor<fp32, [4, 6]> x, tensor<fp32, [4, 2]> \"input.1\") {\n"
      "            tensor<fp32, [4, 3]> a, tensor<fp32, [4, 3]> b = split(axis = int32(1), num_splits = int32(2), x = "
      "x)[name = string(\"split_0\")];\n"
      "            tensor<fp32, [4, 8]> c = concat(axis = int32(1), interleave = bool(false), values = (a, b, "
      "\"input.1\"))[name = string(\"c\")];\n"
      "            tensor<fp32, [4, 3]> d = concat(axis = int32(1), values = (a))[name = string(\"d\")];\n"
      "            write_state(data = d, input = st)[name = string(\"w\")];\n"
      "        } -> (c, \"input.1\");\n"
      "\n"
      "    func \"second fn\"<ios17>() [note = string(\"x\")] {\n"
      "        } -> ();\n"
      "}\n";
  Program p = parse_ok(text);
  ASSERT_EQ(p.functions.size(), 2u);
  const auto& ops = p.functions[0].body.operations;
  ASSERT_EQ(ops.size(), 4u);
  ASSERT_EQ(ops[0].outputs.size(), 2u);
  EXPECT_EQ(ops[0].outputs[1].name, "b");
  const Argument* values = ops[1].input("values");
  ASSERT_NE(values, nullptr);
  EXPECT_TRUE(values->is_tuple);
  ASSERT_EQ(values->bindings.size(), 3u);
  EXPECT_EQ(values->bindings[2].name, "input.1");
  EXPECT_TRUE(ops[2].input("values")->is_tuple);
  EXPECT_EQ(ops[2].input("values")->bindings.size(), 1u);
  EXPECT_FALSE(ops[1].input("axis")->is_tuple);
  EXPECT_TRUE(ops[1].input("axis")->bindings[0].value.has_value());
  EXPECT_TRUE(ops[3].outputs.empty());
  EXPECT_EQ(p.functions[1].name, "second fn");
  EXPECT_EQ(p.functions[1].opset, "ios17");
  EXPECT_EQ(p.functions[1].attributes.at("note").tensor().get_string(0), "x");
  EXPECT_EQ(print_mil_text(p), text);
  // The hand-written `(TYPE a, TYPE b) = op(...)` spelling parses too.
  Program q = parse_ok(
      "program(1.3) { func main<ios18>(tensor<fp32, [4, 6]> x) { (tensor<fp32, [4, 3]> a, tensor<fp32, [4, 3]> b) = "
      "split(x = x, num_splits = int32(2), axis = int32(1))[name = string(\"s\")]; } -> (a); }");
  ASSERT_EQ(q.functions.size(), 1u);
  EXPECT_EQ(q.functions[0].body.operations[0].outputs.size(), 2u);
}

const char* kNestedText =
    "program(1.3)\n{\n"
    "    func main<ios18>(bool p, tensor<fp32, [2]> x, int32 n) {\n"
    "            tensor<fp32, [2]> r = cond(pred = p)[name = string(\"r\")]\n"
    "                {\n"
    "                    tensor<fp32, [2]> a = relu(x = x)[name = string(\"a\")];\n"
    "                } -> (a)\n"
    "                {\n"
    "                    tensor<fp32, [2]> b = cond(pred = p)[name = string(\"b\")]\n"
    "                        {\n"
    "                        } -> (x)\n"
    "                        {\n"
    "                            tensor<fp32, [2]> b2 = sigmoid(x = x)[name = string(\"b2\")];\n"
    "                        } -> (b2);\n"
    "                } -> (b);\n"
    "            int32 i0 = const()[name = string(\"i0\"), val = int32(0)];\n"
    "            int32 i_out, tensor<fp32, [2]> acc_out = while_loop(loop_vars = (i0, r))[name = string(\"loop\")]\n"
    "                (int32 i_c, tensor<fp32, [2]> acc_c) {\n"
    "                    bool go = less(x = i_c, y = n)[name = string(\"go\")];\n"
    "                } -> (go)\n"
    "                (int32 i_b, tensor<fp32, [2]> acc_b) {\n"
    "                    int32 i_n = add(x = i_b, y = int32(1))[name = string(\"i_n\")];\n"
    "                    tensor<fp32, [2]> acc_n = mul(x = acc_b, y = acc_b)[name = string(\"acc_n\")];\n"
    "                } -> (i_n, acc_n);\n"
    "        } -> (acc_out);\n"
    "}\n";

TEST(MilText, NestedBlocks) {
  Program p = parse_ok(kNestedText);
  ASSERT_EQ(p.functions.size(), 1u);
  const auto& ops = p.functions[0].body.operations;
  ASSERT_EQ(ops.size(), 3u);
  const Operation& c = ops[0];
  ASSERT_EQ(c.blocks.size(), 2u);
  EXPECT_TRUE(c.blocks[0].inputs.empty());
  EXPECT_EQ(c.blocks[0].outputs, std::vector<std::string>{"a"});
  ASSERT_EQ(c.blocks[1].operations.size(), 1u);
  const Operation& inner = c.blocks[1].operations[0];
  ASSERT_EQ(inner.blocks.size(), 2u);
  EXPECT_TRUE(inner.blocks[0].operations.empty());
  EXPECT_EQ(inner.blocks[0].outputs, std::vector<std::string>{"x"});
  const Operation& loop = ops[2];
  EXPECT_EQ(loop.outputs.size(), 2u);
  ASSERT_EQ(loop.blocks.size(), 2u);
  ASSERT_EQ(loop.blocks[1].inputs.size(), 2u);
  EXPECT_EQ(loop.blocks[1].inputs[0].name, "i_b");
  EXPECT_EQ(loop.blocks[1].inputs[0].type, Type::scalar(DType::kInt32));
  EXPECT_EQ(loop.blocks[1].inputs[1].type, Type::tensor(DType::kFp32, {2}));
  EXPECT_EQ(loop.blocks[1].outputs, (std::vector<std::string>{"i_n", "acc_n"}));
  EXPECT_EQ(loop.blocks[1].operations.size(), 2u);
  EXPECT_EQ(p.op_count(), 9u);
  EXPECT_EQ(print_mil_text(p), kNestedText);
}

TEST(MilText, TypesRoundTrip) {
  const std::string text =
      "program(1.3)\n{\n"
      "    func main<ios18>(tensor<fp32, *> a, tensor<int32, [1, ?]> b, state<tensor<fp16, [1, 1, 4, 64]>> c, "
      "list<tensor<fp32, [2]>, ?> d, list<int32, 5> e, tuple<fp32, tuple<>> f, dict<string, tensor<fp16, [3]>> g, "
      "tensor<fp8e4m3fn, []> h) {\n"
      "        } -> (a);\n"
      "}\n";
  Program p = parse_ok(text);
  ASSERT_EQ(p.functions.size(), 1u);
  const auto& in = p.functions[0].inputs;
  ASSERT_EQ(in.size(), 8u);
  EXPECT_EQ(in[0].type, Type::unknown_rank(DType::kFp32));
  EXPECT_EQ(in[1].type, Type::tensor(DType::kInt32, {1, kUnknownDim}));
  EXPECT_EQ(in[2].type, Type::state(Type::tensor(DType::kFp16, {1, 1, 4, 64})));
  EXPECT_EQ(in[3].type, Type::list(Type::tensor(DType::kFp32, {2})));
  EXPECT_EQ(in[4].type, Type::list(Type::scalar(DType::kInt32), 5));
  EXPECT_EQ(in[5].type, Type::tuple({Type::scalar(DType::kFp32), Type::tuple({})}));
  EXPECT_EQ(in[6].type, Type::dict(Type::scalar(DType::kString), Type::tensor(DType::kFp16, {3})));
  EXPECT_EQ(in[7].type, Type::scalar(DType::kFp8E4M3FN));
  // A scalar var type prints as the bare dtype in 1.3.
  std::string expected = text;
  expected.replace(expected.find("tensor<fp8e4m3fn, []> h"), 23, "fp8e4m3fn h");
  EXPECT_EQ(print_mil_text(p), expected);
}

TEST(MilText, UnknownOpsAndComments) {
  Program p = parse_ok(
      "// a comment\nprogram(1.3) // trailing\n{ func main<ios18>(fp32 x) { fp32 y = my_custom_op(x = x, "
      "k = tensor<fp32, [2]>([1.5, -2e-3])); } -> (y); }");
  ASSERT_EQ(p.functions.size(), 1u);
  const Operation& op = p.functions[0].body.operations[0];
  EXPECT_EQ(op.type, "my_custom_op");
  EXPECT_TRUE(op.attributes.empty());
  EXPECT_FLOAT_EQ(op.input("k")->bindings[0].value->tensor().get_f64(1), -2e-3f);
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(MilText, ErrorsCarryLineAndColumn) {
  EXPECT_EQ(parse_err("program(1.3)\n{\n    func main<ios18>(fp32 x) {\n            fp32 y = relu(x = x;\n"
                      "        } -> (y);\n}\n"),
            "t.mil:4:32: expected `)` after argument list, got `;`");
  EXPECT_EQ(parse_err("func main"), "t.mil:1:1: expected `program(VERSION)` at the start of the input, got `func`");
  EXPECT_EQ(parse_err("program(1.3)\n{\n  func main<ios18>(tensor<fp33, [1]> x) {} -> ();\n}"),
            "t.mil:3:27: unknown dtype `fp33`");
  EXPECT_EQ(parse_err("program(1.3)\n{\n  func main<ios18>(floaty x) {} -> ();\n}"),
            "t.mil:3:20: unknown type `floaty`");
  EXPECT_EQ(parse_err("program(1.3)\n{\n  func main<ios18>() {\n    string s = const()[val = string(\"abc)];\n"),
            "t.mil:4:37: unterminated string literal");
  EXPECT_EQ(parse_err("program(1.3) {\n func main<ios18>() { $ } -> (); }"), "t.mil:2:23: unexpected character `$`");
  EXPECT_EQ(parse_err("program(1.3) {\n func main<ios18>() { \xff } -> (); }"), "t.mil:2:23: unexpected character \\xff");
  EXPECT_EQ(parse_err("program(1.3) {\n func main<ios18>() {\n  uint8 c = const()[val = uint8(300)];\n } -> (c); }"),
            "t.mil:3:33: integer `300` is out of range for uint8");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n"
                      "  int32 c = const()[val = int32(99999999999999999999999)]; } -> (c); }"),
            "t.mil:2:33: integer `99999999999999999999999` is out of range for int32");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n"
                      "  fp32 c = const()[val = fp32(1e99999)]; } -> (c); }"),
            "t.mil:2:31: number `1e99999` is out of range");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n"
                      "  tensor<fp32, [3]> c = const()[val = tensor<fp32, [3]>([1, 2])]; } -> (c); }"),
            "t.mil:2:62: tensor literal has 2 elements in dimension 0, its type says 3");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n"
                      "  tensor<fp32, [2]> c = const()[val = tensor<fp32, [2]>([1, 2, 3])]; } -> (c); }"),
            "t.mil:2:62: tensor literal has more than 2 elements in dimension 0, its type says 2");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n"
                      "  tensor<fp32, [?, ?]> c = const()[val = tensor<fp32, [?, ?]>([[1, 2], [3]])]; } -> (c); }"),
            "t.mil:2:72: tensor literal is not rectangular: 1 elements in dimension 1 here, 2 before");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n  fp32 c = const()[val = fp32(1x)]; } -> (c); }"),
            "t.mil:2:31: malformed number `1x`");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>(fp32 x) {\n  fp32 y = relu(x = x)[name = string(\"y\")]\n"
                      "} -> (y); }"),
            "t.mil:3:1: expected `;` after operation `relu`, got `}`");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>(fp32 x) {\n  fp32 y = relu(x = x, x = x); } -> (y); }"),
            "t.mil:2:24: duplicate parameter `x`");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>(fp32 x) {\n  fp32 y = relu(x = x);\n"),
            "t.mil:3:1: expected `}` to close the block, got end of input");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>(fp32 x) {} -> (x); } extra"),
            "t.mil:1:54: expected end of input after the program, got `extra`");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>(fp32 x) {} (x); }"),
            "t.mil:1:44: expected `->` and the block outputs after `}`, got `(`");
  EXPECT_EQ(parse_err("program(1.3) { func main<ios18>() {\n  string s = const()[val = string(\"a\\qb\")]; } -> (s); }"),
            "t.mil:2:37: unknown escape `\\q` in string");
}

TEST(MilText, HostileInputNeverCrashes) {
  // Deep nesting of types, literals and tensor brackets is cut off with an error.
  std::string deep_type = "program(1.3) { func main<ios18>(";
  for (int i = 0; i < 100000; ++i) deep_type += "tuple<";
  EXPECT_NE(parse_err(deep_type).find("nesting deeper than"), std::string::npos);
  std::string deep_data = "program(1.3) { func main<ios18>() { tensor<fp32, *> c = const()[val = tensor<fp32, *>(";
  for (int i = 0; i < 100000; ++i) deep_data += "[";
  EXPECT_NE(parse_err(deep_data).find("nesting deeper than"), std::string::npos);
  std::string deep_blocks = "program(1.3) { func main<ios18>() { ";
  for (int i = 0; i < 100000; ++i) deep_blocks += "cond() {";
  EXPECT_NE(parse_err(deep_blocks).find("nesting deeper than"), std::string::npos);
  // Huge shapes are types only; a literal for one is refused without allocating.
  EXPECT_NE(parse_err("program(1.3) { func main<ios18>() { tensor<fp32, [4611686018427387904, 4]> c = const()[val = "
                      "tensor<fp32, [4611686018427387904, 4]>([])]; } -> (c); }")
                .find("too large"),
            std::string::npos);
  EXPECT_FALSE(parse_mil_text("program(1.3) { func main<ios18>() { tensor<fp32, [1000000000000]> c = const()[val = "
                              "tensor<fp32, [1000000000000]>([1, 2])]; } -> (c); }")
                   .ok());
  EXPECT_NE(parse_err("program(1.3) { func main<ios18>(tensor<fp32, [99999999999999999999]> x) {} -> (); }")
                .find("out of range"),
            std::string::npos);
  EXPECT_FALSE(parse_mil_text("").ok());
  EXPECT_FALSE(parse_mil_text(std::string("\0\0\0", 3)).ok());
}

TEST(MilText, EveryTruncationFailsCleanly) {
  const std::string text = std::string(kNestedText);
  std::string full = text;
  // Add literals of every kind to the sample.
  full.insert(full.find("        } -> (acc_out);"),
              "            tensor<fp32, [500]> w = const()[name = string(\"w\"), val = tensor<fp32, [500]>(BLOBFILE(path "
              "= string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];\n"
              "            tensor<fp16, [2, 2]> m = const()[name = string(\"m\"), val = tensor<fp16, [2, "
              "2]>([[0x1p+0, -0x1.8p-3], [inf, nan]])];\n"
              "            tuple<int32, string> t = const()[name = string(\"t\"), val = tuple<int32, string>((1, "
              "\"q\\\"x\"))];\n");
  ASSERT_TRUE(parse_mil_text(full).ok()) << parse_mil_text(full).status().message();
  const size_t last = full.rfind('}');
  for (size_t n = 0; n <= last; ++n) {
    auto r = parse_mil_text(std::string_view(full).substr(0, n), "cut.mil");
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.status().message().rfind("cut.mil:", 0), 0u) << r.status().message();
  }
  // Random byte mutations: parse or fail, never crash; whatever parses re-prints to a fixed point.
  std::mt19937 rng(1234);
  const char alphabet[] = "()[]{}<>,=;*?-+\"\\ \n0123456789xpeab_\x80\xff";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = full;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % m.size();
      const char c = alphabet[rng() % (sizeof(alphabet) - 1)];
      switch (rng() % 3) {
        case 0: m[pos] = c; break;
        case 1: m.insert(m.begin() + static_cast<long>(pos), c); break;
        default: m.erase(pos, 1 + rng() % 8); break;
      }
    }
    auto r = parse_mil_text(m);
    if (r.ok()) {
      const std::string once = print_mil_text(*r);
      auto again = parse_mil_text(once);
      ASSERT_TRUE(again.ok()) << again.status().message() << "\n" << once;
      EXPECT_EQ(print_mil_text(*again), once);
    }
  }
}

// ---- every registered op -----------------------------------------------------------------------------

// Builds one function holding one operation per op, every input of the op's signature bound.
class AllOpsBuilder {
 public:
  AllOpsBuilder(Function& f, int opset) : f_(f), opset_(opset) {}

  Type input_type(DType dt) { return Type::tensor(dt, {1, 4}); }

  // A function input of dtype `dt`, created on first use.
  std::string input(DType dt) {
    const std::string n = "in_" + std::string(dtype_name(dt));
    if (made_.insert(n).second) f_.inputs.push_back({n, input_type(dt)});
    return n;
  }
  std::string named_input(const std::string& n, const Type& t) {
    if (made_.insert(n).second) f_.inputs.push_back({n, t});
    return n;
  }

  static DType pick(const InputSpec& s) {
    if (s.allowed.empty()) return DType::kFp32;
    for (DType d : s.allowed)
      if (d == DType::kFp16) return d;  // fp16: exercises the bit-stored path
    return s.allowed[0];
  }

  // A plausible constant for input `s`.
  Value constant(const InputSpec& s, DType dt) {
    if (dt == DType::kString) return Value::of(Tensor::scalar_string(s.name == "pad_type" ? "valid" : "mode_" + s.name));
    if (dt == DType::kBool) return Value::of(Tensor::scalar_bool(true));
    if (is_float(dt)) {
      std::vector<double> v = {0.5, -1.25, 3.0, 1.0 / 3.0};
      return Value::of(Tensor::from_f64(dt, {2, 2}, v));
    }
    if (s.name == "axis" || s.name == "groups" || s.name == "nbits") return Value::of(Tensor::scalar_i64(dt, 1));
    std::vector<int64_t> v = {1, 0, 1};
    return Value::of(Tensor::from_i64(dt, {3}, v));
  }

  Binding const_binding(const std::string& op, const InputSpec& s, DType dt, bool inline_it) {
    Value v = constant(s, dt);
    if (inline_it) return Binding::constant(std::move(v));
    const std::string n = op + "_" + s.name;
    f_.body.operations.push_back(const_op(n, std::move(v)));
    return Binding::ref(n);
  }

  Argument argument(const std::string& op, const InputSpec& s) {
    Argument a;
    const DType dt = pick(s);
    const bool inline_it = (++counter_ % 2) == 0;
    switch (s.kind) {
      case InputKind::kTuple: {
        a.is_tuple = true;
        a.bindings.push_back(Binding::ref(input(DType::kFp32)));
        if (s.name == "begins" || s.name == "ends" || s.name == "end_masks" || s.name == "elem_shape")
          a.bindings.push_back(Binding::constant(Value::of(Tensor::scalar_i64(DType::kInt32, 2))));
        else
          a.bindings.push_back(Binding::ref(input(DType::kFp32)));
        return a;
      }
      case InputKind::kList: {
        if (s.must_be_const) {
          std::vector<Value> elems;
          for (int i = 0; i < 3; ++i) elems.push_back(Value::of(Tensor::scalar_i64(DType::kInt64, i)));
          Value v;
          v.type = Type::list(Type::scalar(DType::kInt64), 3);
          v.data = Value::List{std::move(elems)};
          a.bindings.push_back(Binding::constant(std::move(v)));
        } else {
          a.bindings.push_back(Binding::ref(named_input("in_list", Type::list(Type::tensor(DType::kFp32, {4})))));
        }
        return a;
      }
      case InputKind::kState:
        a.bindings.push_back(
            Binding::ref(named_input("in_state", Type::state(Type::tensor(DType::kFp16, {1, 4})))));
        return a;
      default:
        if (s.must_be_const) a.bindings.push_back(const_binding(op, s, dt, inline_it));
        else a.bindings.push_back(Binding::ref(input(dt)));
        return a;
    }
  }

  // One nested block reading `x` (or its inputs), returning one or two values.
  Block block(const std::string& prefix, const std::vector<NamedType>& inputs) {
    Block b;
    b.inputs = inputs;
    const std::string src = inputs.empty() ? input(DType::kFp32) : inputs.back().name;
    Operation op = make_op("relu", prefix + "_relu", {{prefix + "_relu", input_type(DType::kFp32)}}, {{"x", arg_ref(src)}});
    b.operations.push_back(std::move(op));
    b.outputs = {prefix + "_relu"};
    if (!inputs.empty()) b.outputs.insert(b.outputs.begin(), inputs.front().name);
    return b;
  }

  void add(const OpSchema& s, bool params_as_attributes) {
    const OpVariant* v = s.variant_for(opset_);
    ASSERT_NE(v, nullptr) << s.name;
    const std::string n = s.name + (params_as_attributes ? "_attr" : "");
    std::vector<NamedType> outs = {{n + "_out", input_type(DType::kFp32)}};
    if (s.name == "split" || s.name == "topk" || s.name == "lstm" || s.name == "gru" || s.name == "rnn" ||
        s.name == "while_loop" || s.name == "non_maximum_suppression" ||
        (s.name.rfind("constexpr_", 0) == 0 && opset_ >= 18))
      outs.push_back({n + "_out1", input_type(DType::kInt32)});
    if (s.name == "write_state") outs.clear();
    Operation op = make_op(s.name, n, outs);
    if (s.name == "const") {
      op.attributes["val"] = Value::of(Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{1.5, -2}));
    }
    for (const auto& spec : v->inputs) {
      if (params_as_attributes) {
        const DType dt = pick(spec);
        op.attributes[spec.name] = constant(spec, dt);
        continue;
      }
      if (s.name == "constexpr_lut_to_dense" && spec.name == "indices") {  // fed by another constexpr: a name
        op.inputs[spec.name] = arg_ref(input(DType::kUint8));
        continue;
      }
      if (s.name.rfind("constexpr_", 0) == 0) {  // iOS18: params are inputs bound to inline values
        op.inputs[spec.name] = Argument{{Binding::constant(constant(spec, pick(spec)))}, false};
      } else if (s.name == "while_loop") {
        op.inputs[spec.name] = Argument{{Binding::constant(Value::of(Tensor::scalar_i64(DType::kInt32, 0))),
                                         Binding::ref(input(DType::kFp32))},
                                        true};
      } else {
        op.inputs[spec.name] = argument(n, spec);
      }
    }
    if (s.name == "cond") {
      op.blocks.push_back(block(n + "_then", {}));
      op.blocks.push_back(block(n + "_else", {}));
    } else if (s.name == "while_loop") {
      op.blocks.push_back(block(n + "_cond", {{n + "_c_i", Type::scalar(DType::kInt32)},
                                              {n + "_c_x", input_type(DType::kFp32)}}));
      op.blocks[0].outputs = {n + "_c_i"};
      op.blocks.push_back(block(n + "_body", {{n + "_b_i", Type::scalar(DType::kInt32)},
                                              {n + "_b_x", input_type(DType::kFp32)}}));
    }
    f_.body.operations.push_back(std::move(op));
    f_.body.outputs.push_back(outs.empty() ? input(DType::kFp32) : outs[0].name);
    covered.insert(s.name);
  }

  std::set<std::string> covered;

 private:
  Function& f_;
  int opset_;
  std::set<std::string> made_;
  int counter_ = 0;
};

Program all_ops_program(const std::string& version) {
  Program p;
  p.text_version = version;
  Function f18;
  f18.name = "main";
  f18.opset = "ios18";
  Function f17;
  f17.name = "main_ios17";
  f17.opset = "ios17";
  AllOpsBuilder b18(f18, 18), b17(f17, 17);
  for (const OpSchema* s : OpRegistry::get().all()) {
    b18.add(*s, false);
    if (s->params_in_attributes_before_ios18 && s->since <= 17) b17.add(*s, true);
  }
  EXPECT_EQ(b18.covered.size(), OpRegistry::get().size());
  EXPECT_GE(b17.covered.size(), 4u);  // iOS16/17 constexpr ops with params in the attribute bracket
  p.functions.push_back(std::move(f18));
  p.functions.push_back(std::move(f17));
  return p;
}

// Structural equality of what the text carries (types, bindings, literal values, blocks).
void expect_same_value(const Value& a, const Value& b, const std::string& where) {
  EXPECT_EQ(a.type, b.type) << where;
  ASSERT_EQ(a.data.index(), b.data.index()) << where;
  if (a.is_tensor()) {
    EXPECT_TRUE(a.tensor().identical(b.tensor())) << where << ": " << a.tensor().debug_string();
  }
}
void expect_same_block(const Block& a, const Block& b, const std::string& where) {
  ASSERT_EQ(a.inputs.size(), b.inputs.size()) << where;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    EXPECT_EQ(a.inputs[i].name, b.inputs[i].name) << where;
    EXPECT_EQ(a.inputs[i].type, b.inputs[i].type) << where;
  }
  EXPECT_EQ(a.outputs, b.outputs) << where;
  ASSERT_EQ(a.operations.size(), b.operations.size()) << where;
  for (size_t i = 0; i < a.operations.size(); ++i) {
    const Operation& x = a.operations[i];
    const Operation& y = b.operations[i];
    const std::string w = where + "/" + x.name();
    EXPECT_EQ(x.type, y.type) << w;
    ASSERT_EQ(x.outputs.size(), y.outputs.size()) << w;
    for (size_t k = 0; k < x.outputs.size(); ++k) {
      EXPECT_EQ(x.outputs[k].name, y.outputs[k].name) << w;
      EXPECT_EQ(x.outputs[k].type, y.outputs[k].type) << w;
    }
    ASSERT_EQ(x.inputs.size(), y.inputs.size()) << w;
    for (auto it = x.inputs.begin(), jt = y.inputs.begin(); it != x.inputs.end(); ++it, ++jt) {
      EXPECT_EQ(it->first, jt->first) << w;
      EXPECT_EQ(it->second.is_tuple, jt->second.is_tuple) << w << "." << it->first;
      ASSERT_EQ(it->second.bindings.size(), jt->second.bindings.size()) << w;
      for (size_t k = 0; k < it->second.bindings.size(); ++k) {
        const Binding& p = it->second.bindings[k];
        const Binding& q = jt->second.bindings[k];
        EXPECT_EQ(p.name, q.name) << w;
        ASSERT_EQ(p.value.has_value(), q.value.has_value()) << w;
        if (p.value) expect_same_value(*p.value, *q.value, w + "." + it->first);
      }
    }
    ASSERT_EQ(x.attributes.size(), y.attributes.size()) << w;
    for (auto it = x.attributes.begin(), jt = y.attributes.begin(); it != x.attributes.end(); ++it, ++jt) {
      EXPECT_EQ(it->first, jt->first) << w;
      expect_same_value(it->second, jt->second, w + "[" + it->first + "]");
    }
    ASSERT_EQ(x.blocks.size(), y.blocks.size()) << w;
    for (size_t k = 0; k < x.blocks.size(); ++k) expect_same_block(x.blocks[k], y.blocks[k], w + "#" + std::to_string(k));
  }
}

TEST(MilText, RoundTripsEveryRegisteredOp) {
  for (const std::string version : {"1.0", "1.3"}) {
    SCOPED_TRACE("program(" + version + ")");
    Program p = all_ops_program(version);
    EXPECT_GE(p.op_count(), OpRegistry::get().size());
    const std::string first = print_mil_text(p);
    auto parsed = parse_mil_text(first, "all_ops.mil");
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    const std::string second = print_mil_text(*parsed);
    EXPECT_EQ(first, second);
    ASSERT_EQ(parsed->functions.size(), p.functions.size());
    EXPECT_EQ(parsed->text_version, version);
    for (size_t i = 0; i < p.functions.size(); ++i) {
      EXPECT_EQ(parsed->functions[i].name, p.functions[i].name);
      EXPECT_EQ(parsed->functions[i].opset, p.functions[i].opset);
      ASSERT_EQ(parsed->functions[i].inputs.size(), p.functions[i].inputs.size());
      expect_same_block(p.functions[i].body, parsed->functions[i].body, p.functions[i].name);
    }
    // Each op appears by name in the text, in the syntax the format doc describes.
    for (const OpSchema* s : OpRegistry::get().all())
      EXPECT_NE(first.find(" " + s->name + "("), std::string::npos) << s->name;
    if (version == "1.3") {
      EXPECT_NE(first.find("values = (in_fp32, in_fp32)"), std::string::npos);
      EXPECT_NE(first.find("constexpr_lut_to_dense()[indices = "), std::string::npos);
    } else {
      EXPECT_NE(first.find("[name = tensor<string, []>(\"conv\")]"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ironmill::mil
