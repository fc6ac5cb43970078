// Control flow and lists on the reference backend: loops run the right number of times, lists are
// values, and runtime misuse (index out of range, writes past a fixed length) is a clear error.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/text.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;

std::string program(const std::string& params, const std::string& body, const std::string& outs) {
  return "program(1.3)\n{\n    func main<ios18>(" + params + ") {\n" + body + "\n    } -> (" + outs + ");\n}\n";
}

Result<NamedValues> run_text(const std::string& text, const NamedValues& in) {
  IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(text));
  IM_ASSIGN_OR_RETURN(auto be, make_backend("reference"));
  IM_ASSIGN_OR_RETURN(auto exe, be->compile(p, {}));
  return exe->run(in);
}

Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }

const char* kFactorial = R"(
  int32 one = const()[name = string("one"), val = int32(1)];
  int32 i_out, int32 f_out = while_loop(loop_vars = (one, one))[name = string("loop")]
    (int32 i_c, int32 f_c) {
      bool go = less_equal(x = i_c, y = n)[name = string("go")];
    } -> (go)
    (int32 i_b, int32 f_b) {
      int32 f_n = mul(x = f_b, y = i_b)[name = string("f_n")];
      int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
    } -> (i_n, f_n);
)";

TEST(ControlKernels, WhileLoopFactorial) {
  const std::string text = program("int32 n", kFactorial, "i_out, f_out");
  for (auto [n, f] : std::vector<std::pair<int, int>>{{0, 1}, {1, 1}, {5, 120}, {10, 3628800}}) {
    auto out = run_text(text, {{"n", i32(n)}});
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(std::get<Tensor>(out->at("f_out")).get_i64(0), f) << n;
    EXPECT_EQ(std::get<Tensor>(out->at("i_out")).get_i64(0), std::max(n, 0) + 1) << n;
  }
}

TEST(ControlKernels, CondPicksABranch) {
  const std::string text = program("bool p, int32 a, int32 b", R"(
  int32 y = cond(pred = p)[name = string("c")]
    {
    } -> (a)
    {
    } -> (b);
  )", "y");
  auto t = run_text(text, {{"p", Tensor::scalar_bool(true)}, {"a", i32(3)}, {"b", i32(4)}});
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(std::get<Tensor>(t->at("y")).get_i64(0), 3);
  auto f = run_text(text, {{"p", Tensor::scalar_bool(false)}, {"a", i32(3)}, {"b", i32(4)}});
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(std::get<Tensor>(f->at("y")).get_i64(0), 4);
}

const char* kFixedList = R"(
  tensor<int32, [2]> v = const()[name = string("v"), val = tensor<int32, [2]>([7, 8])];
  list<tensor<int32, [2]>, 2> ls = make_list(dtype = string("int32"), dynamic_length = bool(false), elem_shape = (int32(2)), init_length = int32(2))[name = string("ls")];
  list<tensor<int32, [2]>, 2> l1 = list_write(index = k, ls = ls, value = v)[name = string("l1")];
  tensor<int32, [2]> r = list_read(index = k, ls = l1)[name = string("r")];
)";

TEST(ControlKernels, FixedListBounds) {
  const std::string text = program("int32 k", kFixedList, "r, l1");
  auto ok = run_text(text, {{"k", i32(1)}});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(std::get<Tensor>(ok->at("r")).to_i64(), (std::vector<int64_t>{7, 8}));
  const auto& ls = std::get<ListValue>(ok->at("l1"));
  ASSERT_EQ(ls.items.size(), 2u);
  EXPECT_EQ(ls.items[0].to_i64(), (std::vector<int64_t>{0, 0}));  // never written: zero-filled slot
  auto past = run_text(text, {{"k", i32(2)}});
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("`list_write`"), std::string::npos) << past.status().message();
  EXPECT_NE(past.status().message().find("fixed-length"), std::string::npos) << past.status().message();
  auto neg = run_text(text, {{"k", i32(-1)}});
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("negative"), std::string::npos) << neg.status().message();
}

TEST(ControlKernels, ListReadOutOfRange) {
  const std::string text = program("int32 k", R"(
  list<tensor<fp32, [1]>, ?> ls = make_list(dtype = string("fp32"), elem_shape = (int32(1)), init_length = int32(0))[name = string("ls")];
  tensor<fp32, [1]> r = list_read(index = k, ls = ls)[name = string("r")];
  )", "r");
  auto out = run_text(text, {{"k", i32(0)}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("`list_read`"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("out of range for a list of length 0"), std::string::npos)
      << out.status().message();
}

TEST(ControlKernels, ClassifyReturnsLabelAndDict) {
  mil::Program p;
  mil::Function f;
  f.inputs = {{"p", mil::Type::tensor(DType::kFp32, {3})}};
  mil::Operation op;
  op.type = "classify";
  op.inputs["probabilities"].bindings.push_back(mil::Binding::ref("p"));
  mil::Value classes;
  classes.type = mil::Type::list(mil::Type::scalar(DType::kInt64), 3);
  mil::Value::List items;
  for (int64_t c : {5, 6, 7}) items.elems.push_back(mil::Value::of(Tensor::scalar_i64(DType::kInt64, c)));
  classes.data = items;
  op.inputs["classes"].bindings.push_back(mil::Binding::constant(classes));
  op.attributes["name"] = mil::Value::of(Tensor::scalar_string("cls"));
  op.outputs = {{"label", mil::Type::scalar(DType::kInt64)},
                {"probs", mil::Type::dict(mil::Type::scalar(DType::kInt64), mil::Type::scalar(DType::kFp64))}};
  f.body.operations.push_back(op);
  f.body.outputs = {"label", "probs"};
  p.functions.push_back(f);
  auto be = make_backend("reference");
  auto exe = (*be)->compile(p, {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto out = (*exe)->run({{"p", Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{0.25, 0.5, 0.25})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(std::get<Tensor>(out->at("label")).get_i64(0), 6);
  const auto& d = std::get<DictValue>(out->at("probs"));
  ASSERT_EQ(d.items.size(), 3u);
  EXPECT_EQ(d.items[2].first.get_i64(0), 7);
  EXPECT_EQ(d.items[2].second.dtype(), DType::kFp64);
  EXPECT_EQ(d.items[2].second.get_f64(0), 0.25);
}

}  // namespace
}  // namespace ironmill::backends
