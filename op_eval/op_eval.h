// op-eval: loads the data-driven cases in op_eval/cases/ (written by op_eval/gen/, expectations from
// NumPy/PyTorch) and judges a backend's outputs with the NumPy rule |a - e| <= atol + rtol * |e|.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::op_eval {

struct Case {
  std::string path;
  std::string op, name, family, opset, oracle, compare;
  std::optional<double> atol, rtol;
  mil::Program program;                       // one function `main` applying the op
  backends::NamedValues inputs;               // values for the function inputs
  std::vector<mil::Tensor> expected;          // one per op output (a placeholder where the output is not a tensor)
  std::vector<std::string> output_names;
  // Non-tensor expected outputs (lists, dicts) by output index; their `expected` slot is a placeholder.
  std::map<size_t, backends::RtValue> expected_values;
  // Contents each state input must hold after the run (write_state); state inputs are copied per run.
  std::map<std::string, mil::Tensor> expected_states;
  std::string id() const { return op + "__" + name; }
};

enum class Verdict { kPass, kFail, kUnsupported, kError };
const char* verdict_name(Verdict v);

struct CaseResult {
  std::string op, name, family, backend;
  Verdict verdict = Verdict::kError;
  double max_abs_err = 0.0;
  double nmse = 0.0;       // sum((a-e)^2) / max(sum(e^2), tiny)
  std::string message;     // why it failed / is unsupported
};

// Per-dtype default tolerances (DESIGN.md §Verification tiers).
struct Tolerance { double atol, rtol; };
Tolerance default_tolerance(mil::DType dtype);

Result<Case> load_case(const std::string& path);
std::vector<std::string> list_case_files(const std::string& cases_dir);
CaseResult run_case(const Case& c, backends::Backend& backend);

// Compares one output; fills max_abs_err/nmse and returns an empty string when it passes.
std::string compare_tensor(const mil::Tensor& actual, const mil::Tensor& expected, const std::string& mode,
                           Tolerance tol, double* max_abs_err, double* nmse);

}  // namespace ironmill::op_eval
