// Helpers shared by the unit tests: tensor and type shorthands, building a program of one op, running a
// program on the reference backend, and checking that an error message names what it should.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::testing {

// ---- Tensor and type shorthands ----

// A rank-1 int32 tensor holding `v`.
inline mil::Tensor int32_vector(std::vector<int64_t> v) {
  return mil::Tensor::from_i64(mil::DType::kInt32, {static_cast<int64_t>(v.size())}, v);
}
inline mil::Tensor int32_scalar(int64_t v) { return mil::Tensor::scalar_i64(mil::DType::kInt32, v); }
inline mil::Tensor fp32_scalar(double v) { return mil::Tensor::scalar_f64(mil::DType::kFp32, v); }
inline mil::Tensor string_scalar(const std::string& s) { return mil::Tensor::scalar_string(s); }
inline mil::Tensor bool_scalar(bool v) { return mil::Tensor::scalar_bool(v); }
// An fp32 tensor of shape `s` holding `v` (row-major).
inline mil::Tensor fp32_tensor(mil::Shape s, std::vector<double> v) {
  return mil::Tensor::from_f64(mil::DType::kFp32, std::move(s), v);
}
inline mil::Type fp32_type(mil::Shape s) { return mil::Type::tensor(mil::DType::kFp32, std::move(s)); }
inline mil::Type int32_type(mil::Shape s) { return mil::Type::tensor(mil::DType::kInt32, std::move(s)); }

// ---- Error messages ----

inline bool message_contains(const Status& s, const std::string& what) {
  return s.message().find(what) != std::string::npos;
}

// `s` is an error whose message contains every one of `parts`.
inline void expect_error_contains(const Status& s, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(s.ok());
  for (const auto& p : parts) EXPECT_TRUE(message_contains(s, p)) << "'" << p << "' not in: " << s.message();
}

// ---- Programs of one op ----

struct BuiltOp {
  mil::Program prog;
  Status status;                     // the first error of building and verifying, or ok
  std::vector<std::string> outputs;  // the op's output names (also the function outputs); empty on error
  std::vector<mil::Type> types;      // their inferred types; empty on error

  // Type of the first output; a default Type when the op failed.
  mil::Type out() const { return types.empty() ? mil::Type() : types.front(); }
};

// Builds function "main" in `opset` holding just `op`: `inputs` become function inputs (by type), `consts`
// constants; every output of the op is a function output.
inline BuiltOp build_single_op(const std::string& op, const std::map<std::string, mil::Type>& inputs,
                               const std::map<std::string, mil::Tensor>& consts, const std::string& opset = "ios18") {
  BuiltOp r;
  mil::Builder b(r.prog, "main", opset);
  std::map<std::string, mil::Builder::Arg> args;
  for (const auto& [k, t] : inputs) args[k] = b.input(k, t);
  for (const auto& [k, v] : consts) args[k] = v;
  r.outputs = b.ops(op, args);
  r.status = b.status();
  if (!r.status.ok()) return r;
  for (const auto& o : r.outputs) {
    r.types.push_back(*b.type_of(o));
    b.output(o);
  }
  r.status = b.finish();
  return r;
}

// ---- Running on the reference backend ----

inline Result<backends::NamedValues> run_on_reference(const mil::Program& p, const backends::NamedValues& in) {
  auto be = backends::make_backend("reference");
  if (!be.ok()) return be.status();
  auto exe = (*be)->compile(p, {});
  if (!exe.ok()) return exe.status();
  return (*exe)->run(in);
}

// The tensors of the first function's outputs, in order.
inline Result<std::vector<mil::Tensor>> run_outputs_on_reference(const mil::Program& p,
                                                                 const backends::NamedValues& in) {
  auto out = run_on_reference(p, in);
  if (!out.ok()) return out.status();
  std::vector<mil::Tensor> r;
  for (const auto& name : p.functions[0].body.outputs) r.push_back(std::get<mil::Tensor>(out->at(name)));
  return r;
}

// As run_outputs_on_reference, but a failure is a test failure and gives no tensors.
inline std::vector<mil::Tensor> expect_run_outputs(const mil::Program& p, const backends::NamedValues& in) {
  auto out = run_outputs_on_reference(p, in);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  return std::move(*out);
}

}  // namespace ironmill::testing
