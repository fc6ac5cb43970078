// State ops on the reference backend: write_state changes what later reads (and the caller) see, an
// earlier read keeps its snapshot, and mismatched writes are rejected with clear errors.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/text.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;

Result<std::unique_ptr<Executable>> compile_text(const std::string& text) {
  IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(text));
  IM_ASSIGN_OR_RETURN(auto be, make_backend("reference"));
  return be->compile(p, {});
}

const char* kUpdate = R"(program(1.3)
{
    func main<ios18>(state<tensor<fp32, [2]>> s, tensor<fp32, [2]> x) {
            tensor<fp32, [2]> old = read_state(input = s)[name = string("old")];
            tensor<fp32, [2]> sum = add(x = old, y = x)[name = string("sum")];
            write_state(data = sum, input = s)[name = string("w")];
            tensor<fp32, [2]> now = read_state(input = s)[name = string("now")];
        } -> (old, now);
}
)";

TEST(StateKernels, WriteIsVisibleToLaterReadsAndTheCaller) {
  auto exe = compile_text(kUpdate);
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto storage = std::make_shared<Tensor>(Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{1, 2}));
  NamedValues in{{"s", StateValue{storage}}, {"x", Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{10, 20})}};
  for (int step = 1; step <= 2; ++step) {
    auto out = (*exe)->run(in);
    ASSERT_TRUE(out.ok()) << out.status().message();
    const double base = step == 1 ? 0 : 10;
    EXPECT_EQ(std::get<Tensor>(out->at("old")).to_f64(), (std::vector<double>{1 + base, 2 + 2 * base}));
    EXPECT_EQ(std::get<Tensor>(out->at("now")).to_f64(), (std::vector<double>{11 + base, 22 + 2 * base}));
  }
  // The caller's state storage holds the result of two updates.
  EXPECT_EQ(storage->to_f64(), (std::vector<double>{21, 42}));
}

TEST(StateKernels, WriteMustMatchTheStateType) {
  auto p = mil::parse_mil_text(R"(program(1.3)
{
    func main<ios18>(state<tensor<fp16, [2]>> s, tensor<fp32, [2]> x) {
            write_state(data = x, input = s)[name = string("w")];
        } -> ();
}
)");
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto be = make_backend("reference");
  auto exe = (*be)->compile(*p, {});
  ASSERT_FALSE(exe.ok());
  EXPECT_NE(exe.status().message().find("`write_state`"), std::string::npos) << exe.status().message();
  EXPECT_NE(exe.status().message().find("input `data`"), std::string::npos) << exe.status().message();
}

TEST(StateKernels, ReadStateNeedsAState) {
  auto exe = compile_text(R"(program(1.3)
{
    func main<ios18>(tensor<fp32, [2]> x) {
            tensor<fp32, [2]> r = read_state(input = x)[name = string("r")];
        } -> (r);
}
)");
  ASSERT_FALSE(exe.ok());
  EXPECT_NE(exe.status().message().find("`read_state`"), std::string::npos) << exe.status().message();
  EXPECT_NE(exe.status().message().find("state expected"), std::string::npos) << exe.status().message();
}

TEST(StateKernels, TensorGivenForStateInputIsRejected) {
  auto exe = compile_text(kUpdate);
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  NamedValues in{{"s", Tensor(DType::kFp32, {2})}, {"x", Tensor(DType::kFp32, {2})}};
  auto out = (*exe)->run(in);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("input `s`"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace ironmill::backends
