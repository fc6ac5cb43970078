// The ANE compile policy: capability, separate from lowering. Given a (lowered) MIL program and a
// chip profile, says per op whether the ANE compiler would accept it (and with what evidence), and
// per program whether it compiles, what falls back, and how its weights sit against the size walls.
// This is an emulation of the hardware compiler built from published findings, not a hardware result.
#pragma once
#include <string>
#include <vector>

#include "backends/ane/profile.h"
#include "mil/ir.h"

namespace ironmill::backends::ane {

struct OpVerdict {
  std::string name, type;
  OpStatus status = OpStatus::kRejected;  // kIntermediate counts as accepted inside a program
  std::string rule;     // which rule decided ("op", "required_inputs", "dtype:int4", "limits.max_dim", ...)
  std::string source;   // the rule's source key
  std::string message;  // human-readable reason
  bool on_ane() const { return status != OpStatus::kRejected; }
};

struct Finding {
  bool error = false;  // false: warning
  std::string rule, source, message;
};

struct PolicyReport {
  std::string profile, chip, function;
  std::vector<OpVerdict> ops;      // non-const ops in program order
  std::vector<Finding> findings;   // program-level errors and warnings
  int64_t const_count = 0;
  uint64_t weight_bytes = 0;       // constant tensor bytes (what a weight file would hold)
  bool compiles() const;           // no error finding and every op accepted
  int ane_ops() const;
  int fallback_ops() const;
  int eval_ops() const;
};

PolicyReport evaluate_program(const mil::Program& program, const AneProfile& profile, const std::string& function = "main");
// Single-op capability (used by the `ane` backend's supports()): the op rule only, no shapes.
OpVerdict evaluate_op_kind(const std::string& op_type, const AneProfile& profile);

std::string report_to_text(const PolicyReport& r, const AneProfile& profile);
std::string report_to_json(const PolicyReport& r, const AneProfile& profile);  // schema ironmill.ane-validate/1

}  // namespace ironmill::backends::ane
