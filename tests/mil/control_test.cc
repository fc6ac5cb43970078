// Type inference of the control ops (cond, while_loop, lists, classify) through the MIL text parser
// and the verifier: inferred types, and errors that name the op and what was wrong.
#include <gtest/gtest.h>

#include "mil/builder.h"
#include "mil/text.h"
#include "mil/verifier.h"

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::expect_error_contains;

std::string program(const std::string& params, const std::string& body, const std::string& outs) {
  return "program(1.3)\n{\n    func main<ios18>(" + params + ") {\n" + body + "\n    } -> (" + outs + ");\n}\n";
}

Status verify_text(const std::string& text) {
  auto p = parse_mil_text(text);
  if (!p.ok()) return p.status();
  return verify(*p);
}

const char* kBranches = R"(
  fp32 y = cond(pred = p)[name = string("c")]
    {
      fp32 a = const()[name = string("a"), val = fp32(1.0)];
    } -> (a)
    {
      BRANCH
    } -> (b);
)";

std::string cond_with(const std::string& else_branch, const std::string& pred_type = "bool") {
  std::string body = kBranches;
  body.replace(body.find("BRANCH"), 6, else_branch);
  return program(pred_type + " p", body, "y");
}

TEST(ControlInfer, CondBranchesMustAgree) {
  EXPECT_TRUE(verify_text(cond_with(R"(fp32 b = const()[name = string("b"), val = fp32(2.0)];)")).ok());
  expect_error_contains(verify_text(cond_with(R"(int32 b = const()[name = string("b"), val = int32(2)];)")),
               {"`cond`", "then block returns fp32, else block int32"});
}

TEST(ControlInfer, CondPredMustBeBoolScalar) {
  expect_error_contains(verify_text(cond_with(R"(fp32 b = const()[name = string("b"), val = fp32(2.0)];)", "int32")),
               {"`cond`", "input `pred`"});
}

TEST(ControlInfer, CondMergesDifferingDims) {
  // Fill inference over a hand-built op: branch outputs [2] and [3] merge to [?].
  Program p;
  Function f;
  f.inputs = {{"p", Type::scalar(DType::kBool)}, {"u", Type::tensor(DType::kFp32, {2})},
              {"v", Type::tensor(DType::kFp32, {3})}};
  Operation op;
  op.type = "cond";
  op.inputs["pred"].bindings.push_back(Binding::ref("p"));
  op.attributes["name"] = Value::of(Tensor::scalar_string("c"));
  op.blocks.resize(2);
  op.blocks[0].outputs = {"u"};
  op.blocks[1].outputs = {"v"};
  f.body.operations.push_back(op);
  f.body.outputs = {"cond_0"};
  p.functions.push_back(f);
  ASSERT_TRUE(infer_and_verify(p).ok());
  EXPECT_EQ(p.functions[0].body.operations[0].outputs.at(0).type, Type::tensor(DType::kFp32, {kUnknownDim}));
}

std::string loop_with(const std::string& cond_ret, const std::string& body_outs) {
  return program("int32 n", R"(
  int32 zero = const()[name = string("zero"), val = int32(0)];
  int32 one = const()[name = string("one"), val = int32(1)];
  int32 i_out = while_loop(loop_vars = (zero))[name = string("loop")]
    (int32 i_c) {
      bool go = less(x = i_c, y = n)[name = string("go")];
    } -> ()" + cond_ret + R"()
    (int32 i_b) {
      int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
    } -> ()" + body_outs + R"();
)",
                 "i_out");
}

TEST(ControlInfer, WhileLoopBlocks) {
  EXPECT_TRUE(verify_text(loop_with("go", "i_n")).ok()) << verify_text(loop_with("go", "i_n")).message();
  expect_error_contains(verify_text(loop_with("i_c", "i_n")),
                        {"`while_loop`", "cond block must return one bool scalar"});
  expect_error_contains(verify_text(loop_with("go", "i_n, i_n")), {"`while_loop`", "body block returns 2 values"});
}

TEST(ControlInfer, WhileLoopBlockInputsMustMatchLoopVars) {
  // The cond block declares its input fp32 while the loop var is int32 (the block itself is fine).
  std::string text = loop_with("go", "i_n");
  text.replace(text.find("(int32 i_c)"), 11, "(fp32 i_c)");
  text.replace(text.find("less(x = i_c"), 12, "less(x = one");
  expect_error_contains(verify_text(text), {"`while_loop`", "cond block input `i_c` is fp32, loop var 0 is int32"});
}

TEST(ControlInfer, MakeListTypes) {
  auto p = parse_mil_text(program("", R"(
  list<tensor<fp16, [?, 4]>, ?> a = make_list(dtype = string("fp16"), elem_shape = (string("S"), int32(4)))[name = string("a")];
  list<tensor<int32, [2]>, 5> b = make_list(dtype = string("int32"), dynamic_length = bool(false), elem_shape = (int32(2)), init_length = int32(5))[name = string("b")];
  )", "a, b"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_TRUE(verify(*p).ok()) << verify(*p).message();
  expect_error_contains(verify_text(program("", R"(
  list<tensor<fp16, [4]>, ?> a = make_list(dtype = string("fp17"), elem_shape = (int32(4)))[name = string("a")];
  )", "a")),
               {"`make_list`", "input `dtype`", "fp17"});
  // A fixed-length list needs a constant init_length.
  expect_error_contains(verify_text(program("int32 n", R"(
  list<tensor<fp16, [4]>, ?> a = make_list(dtype = string("fp16"), dynamic_length = bool(false), elem_shape = (int32(4)), init_length = n)[name = string("a")];
  )", "a")),
               {"`make_list`", "input `init_length`"});
}

TEST(ControlInfer, ListOpTypes) {
  const std::string head = R"(
  int32 zero = const()[name = string("zero"), val = int32(0)];
  tensor<int32, [3]> idx = const()[name = string("idx"), val = tensor<int32, [3]>([0, 0, 0])];
  list<tensor<fp32, [2, 3]>, ?> ls = make_list(dtype = string("fp32"), elem_shape = (int32(2), int32(3)))[name = string("ls")];
  )";
  EXPECT_TRUE(verify_text(program("tensor<fp32, [2, 3]> v", head + R"(
  list<tensor<fp32, [2, 3]>, ?> l1 = list_write(index = zero, ls = ls, value = v)[name = string("l1")];
  tensor<fp32, [2, 3]> r = list_read(index = zero, ls = l1)[name = string("r")];
  tensor<fp32, [3, 2, 3]> g = list_gather(indices = idx, ls = l1)[name = string("g")];
  int32 n = list_length(ls = l1)[name = string("n")];
  )", "r, g, n")).ok());
  expect_error_contains(verify_text(program("tensor<fp16, [2, 3]> v", head + R"(
  list<tensor<fp32, [2, 3]>, ?> l1 = list_write(index = zero, ls = ls, value = v)[name = string("l1")];
  )", "l1")),
               {"`list_write`", "input `value`", "fp16"});
  expect_error_contains(verify_text(program("tensor<fp32, [2, 4]> v", head + R"(
  list<tensor<fp32, [2, 3]>, ?> l1 = list_write(index = zero, ls = ls, value = v)[name = string("l1")];
  )", "l1")),
               {"`list_write`", "input `value`", "does not fit"});
  expect_error_contains(verify_text(program("tensor<fp32, [2, 2, 3]> v", head + R"(
  list<tensor<fp32, [2, 3]>, ?> l1 = list_scatter(indices = idx, ls = ls, value = v)[name = string("l1")];
  )", "l1")),
               {"`list_scatter`", "input `value`", "2 rows for 3 indices"});
  expect_error_contains(verify_text(program("tensor<fp32, [2, 3]> v", R"(
  tensor<fp32, [2, 3]> r = list_read(index = v, ls = v)[name = string("r")];
  )", "r")),
               {"`list_read`", "input `ls`", "list expected"});
}

TEST(ControlInfer, Classify) {
  Program p;
  Builder b(p, "main", "ios18");
  auto probs = b.input("p", Type::tensor(DType::kFp32, {1, 3}));
  Value classes;
  classes.type = Type::list(Type::scalar(DType::kString), 3);
  Value::List items;
  for (const char* s : {"a", "b", "c"}) items.elems.push_back(Value::of(Tensor::scalar_string(s)));
  classes.data = items;
  auto outs = b.ops("classify", {{"probabilities", probs}, {"classes", b.constant(classes, "classes")}});
  ASSERT_TRUE(b.status().ok()) << b.status().message();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(*b.type_of(outs[0]), Type::scalar(DType::kString));
  EXPECT_EQ(*b.type_of(outs[1]), Type::dict(Type::scalar(DType::kString), Type::scalar(DType::kFp64)));

  Program q;
  Builder b2(q, "main", "ios18");
  auto probs4 = b2.input("p", Type::tensor(DType::kFp32, {4}));
  b2.ops("classify", {{"probabilities", probs4}, {"classes", b2.constant(classes, "classes")}});
  expect_error_contains(b2.status(), {"`classify`", "input `classes`", "3 classes", "4 values"});

  Program r;
  Builder b3(r, "main", "ios18");
  Value fl;
  fl.type = Type::list(Type::scalar(DType::kFp32), 1);
  fl.data = Value::List{{Value::of(Tensor::scalar_f64(DType::kFp32, 1.0))}};
  b3.ops("classify", {{"probabilities", b3.input("p", Type::tensor(DType::kFp32, {1}))},
                      {"classes", b3.constant(fl, "classes")}});
  expect_error_contains(b3.status(), {"`classify`", "input `classes`", "string or int64"});
}

}  // namespace
}  // namespace ironmill::mil
