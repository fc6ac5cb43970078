// Builds MIL programs in C++ with type inference as you go, so tests read like the program:
//   Builder b(prog, "main", "ios18");
//   auto x = b.input("x", Type::tensor(DType::kFp32, {1, 4}));
//   auto y = b.op("relu", {{"x", x}});
//   b.output(y);
// Errors are collected: the first failure is returned by finish().
#pragma once
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::mil {

class Builder {
 public:
  // Name of a value, an immediate tensor (emitted as a const op), or a tuple of names.
  using Arg = std::variant<std::string, Tensor, std::vector<std::string>>;

  Builder(Program& program, std::string function = "main", std::string opset = "ios18");

  std::string input(const std::string& name, const Type& type);
  std::string constant(const Tensor& value, const std::string& name = "");
  std::string constant(const Value& value, const std::string& name = "");
  // Adds an op; returns all output names (empty on error; see status()).
  std::vector<std::string> ops(const std::string& type, const std::map<std::string, Arg>& inputs,
                               const std::map<std::string, Value>& attributes = {});
  // Single-output convenience.
  std::string op(const std::string& type, const std::map<std::string, Arg>& inputs,
                 const std::map<std::string, Value>& attributes = {});
  void output(const std::string& name);

  const Type* type_of(const std::string& name) const;
  const Status& status() const { return status_; }
  // Verifies the finished function; returns the first error seen.
  Status finish();

 private:
  std::string fresh(const std::string& prefix);
  Program& program_;
  size_t function_index_;
  std::map<std::string, Type> types_;
  std::map<std::string, Value> consts_;
  std::map<std::string, int> counters_;
  Status status_;
};

}  // namespace ironmill::mil
