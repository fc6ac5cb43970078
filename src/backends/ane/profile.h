// ANE chip profiles (profiles/*.json): the data the compile policy and the emulated device follow.
// Every rule names its source (a published hardware finding); where sources disagree the rule says
// which one it follows. A profile may inherit another and override single rules.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mil/dtype.h"
#include "util/status.h"

namespace ironmill::backends::ane {

enum class OpStatus {
  kEval,          // compiles, runs and matched a CPU reference on hardware
  kCompile,       // compiles; numerics not verified on hardware
  kIntermediate,  // runs only inside a larger program (cannot compile standalone)
  kRejected,      // the ANE compiler rejects it
};
const char* op_status_name(OpStatus s);
std::optional<OpStatus> op_status_from_name(const std::string& s);

// Fields every rule carries.
struct RuleInfo {
  std::string source;        // key into AneProfile::sources
  std::string note;
  std::string disagreement;  // other sources and which one this rule follows
};

struct OpRule : RuleInfo {
  std::string op;
  OpStatus status = OpStatus::kRejected;
  std::optional<double> max_err;  // published hardware max error (eval ops)
  std::string workaround;
};

struct InputRule : RuleInfo {
  std::string op, input;
  bool scalar = false;
};

struct CastRule : RuleInfo {
  mil::DType from = mil::DType::kFp16, to = mil::DType::kFp16;
  OpStatus status = OpStatus::kRejected;
};

struct DtypeRule : RuleInfo {
  std::vector<mil::DType> dtypes;  // allowed (or rejected, for "int4")
  std::vector<std::string> ops;    // integer_arithmetic
};

struct Limit : RuleInfo {
  int64_t value = 0;
  std::map<std::string, int64_t> extra;  // io_wide_short: max_channels, min_seq
};

struct WarningRule : RuleInfo {
  std::string rule, op;
};

struct AneProfile {
  std::string name, chip, inherits, inherit_note, path;
  std::map<std::string, std::string> sources;
  OpRule default_rule;
  std::map<std::string, OpRule> ops;
  std::vector<InputRule> required_inputs, const_inputs;
  std::vector<CastRule> casts;
  std::map<std::string, DtypeRule> dtypes;
  std::map<std::string, Limit> limits;
  std::map<std::string, RuleInfo> program_rules;
  std::vector<WarningRule> warnings;
  std::vector<std::string> pad_modes;
  RuleInfo pad_modes_rule;

  // The op's rule; the default (rejected, "not verified") for ops the profile does not list.
  const OpRule& op_rule(const std::string& op) const;
  const CastRule* cast_rule(mil::DType from, mil::DType to) const;
  int64_t limit(const std::string& key, int64_t fallback = 0) const;
  // "key: full citation" for a rule's source.
  std::string cite(const std::string& key) const;
};

// Directory of the built-in profiles ($IRONMILL_ANE_PROFILES overrides the compiled-in path).
std::string profile_dir();
std::vector<std::string> profile_names();
// Loads profiles/<name>.json (resolving `inherits`). Errors name the file and the field.
Result<AneProfile> load_profile(const std::string& name);
// Loads one file; `parent` resolves `inherits` (null: resolve from profile_dir()).
Result<AneProfile> load_profile_file(const std::string& path);
// Parses profile JSON text (exposed for tests of the loader's errors).
Result<AneProfile> parse_profile(const std::string& json_text, const std::string& filename, const AneProfile* parent);

inline constexpr const char* kDefaultProfile = "m3_pro";

}  // namespace ironmill::backends::ane
