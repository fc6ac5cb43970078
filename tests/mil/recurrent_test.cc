// Recurrent family: output shapes per direction / output_sequence, unknown dims, errors naming op and input, and
// the direction conventions of the kernels (reverse returns processing order; the backward half of a
// bidirectional lstm is time-aligned) checked as metamorphic relations between runs.
#include <gtest/gtest.h>

#include <cmath>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::bool_scalar;
using testing::build_single_op;
using testing::expect_run_outputs;
using testing::fp32_type;
using testing::message_contains;
using testing::string_scalar;
constexpr int64_t U = kUnknownDim;

// Deterministic pseudo-random values in [-1, 1).
Tensor rand(Shape s, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  uint32_t st = seed * 2654435761u + 1;
  for (auto& e : v) {
    st = st * 1664525u + 1013904223u;
    e = static_cast<double>(st >> 8) / static_cast<double>(1u << 24) * 2 - 1;
  }
  return Tensor::from_f64(DType::kFp32, std::move(s), v);
}

// x [s, b, I] with its time axis reversed.
Tensor flip_time(const Tensor& x) {
  const int64_t s = x.dim(0), rest = x.numel() / s;
  std::vector<double> v = x.to_f64(), o(v.size());
  for (int64_t t = 0; t < s; ++t)
    std::copy(v.begin() + t * rest, v.begin() + (t + 1) * rest, o.begin() + (s - 1 - t) * rest);
  return Tensor::from_f64(x.dtype(), x.shape(), o);
}

void expect_near(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << "at " << i;
}

TEST(Recurrent, LstmShapes) {
  const int64_t H = 5;
  std::map<std::string, Type> in{
      {"x", fp32_type({U, 2, 3})}, {"initial_h", fp32_type({2, 2 * H})}, {"initial_c", fp32_type({2, 2 * H})}};
  std::map<std::string, Tensor> w{{"weight_ih", rand({4 * H, 3}, 1)},
                                  {"weight_hh", rand({4 * H, H}, 2)},
                                  {"weight_ih_back", rand({4 * H, 3}, 3)},
                                  {"weight_hh_back", rand({4 * H, H}, 4)},
                                  {"direction", string_scalar("bidirectional")},
                                  {"output_sequence", bool_scalar(true)}};
  auto r = build_single_op("lstm", in, w);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.types.size(), 3u);
  EXPECT_EQ(r.types[0], fp32_type({U, 2, 2 * H}));
  EXPECT_EQ(r.types[1], fp32_type({2, 2 * H}));
  EXPECT_EQ(r.types[2], fp32_type({2, 2 * H}));

  auto uni = build_single_op(
      "lstm", {{"x", fp32_type({7, 2, 3})}, {"initial_h", fp32_type({2, H})}, {"initial_c", fp32_type({2, H})}},
      {{"weight_ih", rand({4 * H, 3}, 1)}, {"weight_hh", rand({4 * H, H}, 2)}});
  ASSERT_TRUE(uni.status.ok()) << uni.status.message();
  EXPECT_EQ(uni.types[0], fp32_type({1, 2, H}));  // output_sequence defaults to false
}

TEST(Recurrent, LstmErrors) {
  const int64_t H = 4;
  std::map<std::string, Type> in{
      {"x", fp32_type({3, 2, 3})}, {"initial_h", fp32_type({2, H})}, {"initial_c", fp32_type({2, H})}};
  auto no_back = build_single_op("lstm", in,
                       {{"weight_ih", rand({4 * H, 3}, 1)}, {"weight_hh", rand({4 * H, H}, 2)},
                        {"direction", string_scalar("bidirectional")}});
  EXPECT_TRUE(message_contains(no_back.status,
                               "`lstm` (lstm_0): bidirectional lstm needs `weight_ih_back` and `weight_hh_back`"))
      << no_back.status.message();
  auto bad_ih = build_single_op("lstm", in, {{"weight_ih", rand({4 * H, 2}, 1)}, {"weight_hh", rand({4 * H, H}, 2)}});
  EXPECT_TRUE(message_contains(bad_ih.status,
                               "`lstm` (lstm_0) input `weight_ih`: shape [16, 3] expected, got tensor<fp32, [16, 2]>"))
      << bad_ih.status.message();
  auto bad_act = build_single_op("lstm", in,
                       {{"weight_ih", rand({4 * H, 3}, 1)}, {"weight_hh", rand({4 * H, H}, 2)},
                        {"cell_activation", string_scalar("gelu")}});
  EXPECT_TRUE(message_contains(bad_act.status, "input `cell_activation`: activation must be one of"))
      << bad_act.status.message();
  auto bad_h = build_single_op(
      "lstm", {{"x", fp32_type({3, 2, 3})}, {"initial_h", fp32_type({2, H + 1})}, {"initial_c", fp32_type({2, H})}},
      {{"weight_ih", rand({4 * H, 3}, 1)}, {"weight_hh", rand({4 * H, H}, 2)}});
  EXPECT_TRUE(message_contains(bad_h.status, "input `initial_h`: shape [b, DIRECTIONS*H] [2, 4] expected"))
      << bad_h.status.message();
}

TEST(Recurrent, GruAndRnnShapesAndErrors) {
  const int64_t H = 3;
  auto g = build_single_op(
      "gru", {{"x", fp32_type({4, U, 2})}, {"initial_h", fp32_type({U, H})}},
      {{"weight_ih", rand({3 * H, 2}, 5)}, {"weight_hh", rand({3 * H, H}, 6)}, {"output_sequence", bool_scalar(true)}});
  ASSERT_TRUE(g.status.ok()) << g.status.message();
  EXPECT_EQ(g.types[0], fp32_type({4, U, H}));
  EXPECT_EQ(g.types[1], fp32_type({U, H}));
  auto gbi = build_single_op("gru", {{"x", fp32_type({4, 1, 2})}, {"initial_h", fp32_type({1, H})}},
                             {{"weight_ih", rand({3 * H, 2}, 5)},
                              {"weight_hh", rand({3 * H, H}, 6)},
                              {"direction", string_scalar("bidirectional")}});
  EXPECT_TRUE(message_contains(gbi.status, "`gru` (gru_0) input `direction`: must be one of {forward, reverse}"))
      << gbi.status.message();
  auto reset_after_old = build_single_op("gru", {{"x", fp32_type({4, 1, 2})}, {"initial_h", fp32_type({1, H})}},
                               {{"weight_ih", rand({3 * H, 2}, 5)}, {"weight_hh", rand({3 * H, H}, 6)},
                                {"reset_after", bool_scalar(true)}},
                               "ios17");
  EXPECT_FALSE(reset_after_old.status.ok());  // reset_after is iOS18
  auto r = build_single_op("rnn", {{"x", fp32_type({4, 2, 2})}, {"initial_h", fp32_type({2, H})}},
                 {{"weight_ih", rand({H, 2}, 7)}, {"weight_hh", rand({H, H}, 8)}, {"bias", rand({H + 1}, 9)}});
  EXPECT_TRUE(message_contains(r.status, "`rnn` (rnn_0) input `bias`: shape [3] expected")) << r.status.message();
  auto f16 = build_single_op(
      "rnn", {{"x", Type::tensor(DType::kFp16, {4, 2, 2})}, {"initial_h", Type::tensor(DType::kFp16, {2, H})}},
      {{"weight_ih", rand({H, 2}, 7).cast_to(DType::kFp16)}, {"weight_hh", rand({H, H}, 8).cast_to(DType::kFp16)}},
      "ios15");
  EXPECT_TRUE(message_contains(f16.status, "dtype fp16 not allowed")) << f16.status.message();  // fp16 needs iOS17
}

// reverse(x) == forward(flip(x)) step for step: the reverse output sequence is in processing order.
TEST(Recurrent, ReverseIsForwardOnFlippedInput) {
  const int64_t s = 5, b = 2, I = 3, H = 4;
  Tensor x = rand({s, b, I}, 11), h0 = rand({b, H}, 12);
  for (const char* op : {"gru", "rnn"}) {
    const int64_t G = std::string(op) == "gru" ? 3 : 1;
    std::map<std::string, Tensor> w{{"weight_ih", rand({G * H, I}, 13)}, {"weight_hh", rand({G * H, H}, 14)},
                                    {"bias", rand({G * H}, 15)}, {"output_sequence", bool_scalar(true)}};
    auto fwd = build_single_op(op, {{"x", fp32_type({s, b, I})}, {"initial_h", fp32_type({b, H})}}, w);
    w["direction"] = string_scalar("reverse");
    auto rev = build_single_op(op, {{"x", fp32_type({s, b, I})}, {"initial_h", fp32_type({b, H})}}, w);
    ASSERT_TRUE(fwd.status.ok() && rev.status.ok()) << fwd.status.message() << rev.status.message();
    auto a = expect_run_outputs(fwd.prog, {{"x", flip_time(x)}, {"initial_h", h0}});
    auto r = expect_run_outputs(rev.prog, {{"x", x}, {"initial_h", h0}});
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(r.size(), 2u);
    expect_near(a[0].to_f64(), r[0].to_f64());
    expect_near(a[1].to_f64(), r[1].to_f64());
  }
}

// The backward half of a bidirectional lstm equals a reverse lstm with the back weights, re-aligned to x's time.
TEST(Recurrent, BidirectionalBackwardHalfIsTimeAligned) {
  const int64_t s = 4, b = 1, I = 2, H = 3;
  Tensor x = rand({s, b, I}, 21);
  Tensor wf = rand({4 * H, I}, 22), rf = rand({4 * H, H}, 23), wb = rand({4 * H, I}, 24), rb = rand({4 * H, H}, 25);
  Tensor zeros2(DType::kFp32, {b, 2 * H}), zeros1(DType::kFp32, {b, H});
  auto bi = build_single_op(
      "lstm", {{"x", fp32_type({s, b, I})}, {"initial_h", fp32_type({b, 2 * H})}, {"initial_c", fp32_type({b, 2 * H})}},
      {{"weight_ih", wf},
       {"weight_hh", rf},
       {"weight_ih_back", wb},
       {"weight_hh_back", rb},
       {"direction", string_scalar("bidirectional")},
       {"output_sequence", bool_scalar(true)}});
  auto rev = build_single_op(
      "lstm", {{"x", fp32_type({s, b, I})}, {"initial_h", fp32_type({b, H})}, {"initial_c", fp32_type({b, H})}},
      {{"weight_ih", wb},
       {"weight_hh", rb},
       {"direction", string_scalar("reverse")},
       {"output_sequence", bool_scalar(true)}});
  ASSERT_TRUE(bi.status.ok() && rev.status.ok()) << bi.status.message() << rev.status.message();
  auto o = expect_run_outputs(bi.prog, {{"x", x}, {"initial_h", zeros2}, {"initial_c", zeros2}});
  auto r = expect_run_outputs(rev.prog, {{"x", x}, {"initial_h", zeros1}, {"initial_c", zeros1}});
  ASSERT_EQ(o.size(), 3u);
  ASSERT_EQ(r.size(), 3u);
  const auto ov = o[0].to_f64(), rv = r[0].to_f64();
  for (int64_t t = 0; t < s; ++t)
    for (int64_t j = 0; j < H; ++j)  // bidirectional out[t, 0, H + j] == reverse out[s - 1 - t, 0, j]
      EXPECT_NEAR(ov[static_cast<size_t>(t * 2 * H + H + j)], rv[static_cast<size_t>((s - 1 - t) * H + j)], 1e-6);
  // Final states: [forward final, backward final]; the backward final is the reverse run's final state.
  const auto hb = o[1].to_f64(), hr = r[1].to_f64();
  for (int64_t j = 0; j < H; ++j) EXPECT_NEAR(hb[static_cast<size_t>(H + j)], hr[static_cast<size_t>(j)], 1e-6);
}

// clip bounds the cell state.
TEST(Recurrent, LstmClipBoundsCellState) {
  const int64_t s = 6, b = 1, I = 2, H = 3;
  std::vector<double> big(static_cast<size_t>(4 * H * I), 3.0);
  auto r = build_single_op(
      "lstm", {{"x", fp32_type({s, b, I})}, {"initial_h", fp32_type({b, H})}, {"initial_c", fp32_type({b, H})}},
      {{"weight_ih", Tensor::from_f64(DType::kFp32, {4 * H, I}, big)},
       {"weight_hh", rand({4 * H, H}, 31)},
       {"clip", Tensor::scalar_f64(DType::kFp32, 0.25)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  std::vector<double> ones(static_cast<size_t>(s * b * I), 1.0);
  auto o = expect_run_outputs(r.prog, {{"x", Tensor::from_f64(DType::kFp32, {s, b, I}, ones)},
                   {"initial_h", Tensor(DType::kFp32, {b, H})},
                   {"initial_c", Tensor(DType::kFp32, {b, H})}});
  ASSERT_EQ(o.size(), 3u);
  for (double c : o[2].to_f64()) EXPECT_NEAR(c, 0.25, 1e-7);  // f*c + i*g grows past the clip every step
}

}  // namespace
}  // namespace ironmill::mil
