// The `ane` backend (emulated): compile = lower (passes/ane pipeline) -> validate (chip-profile policy)
// -> bundle the sub-program (MIL text + blob weights) -> compile on an AneDevice; run = [1,C,1,S]
// fp16 buffers bound alphabetically, evaluated by the device. With no Apple hardware here the device
// is the EmulatedAneDevice; every result is an emulation, never a hardware measurement.
#pragma once
#include <memory>

#include "backends/ane/emulated_device.h"
#include "backends/ane/profile.h"
#include "backends/backend.h"
#include "passes/ane/pipeline.h"

namespace ironmill::backends::ane {

struct AneBackendOptions {
  std::string profile = kDefaultProfile;
  passes::ane::LoweringOptions lowering;
  // Share one device across compiles (one emulated process: the compile budget applies). Off by
  // default, so a long op-eval run models one process per program.
  bool shared_device = false;
  // Run rejected ops that only depend on inputs/constants (an LLM's embedding gather, integer position
  // math) on the CPU before the ANE program, as ironmill's ANE runtime does. Off: the whole program
  // must compile for the ANE.
  bool cpu_prologue = false;
};

class AneBackend final : public Backend {
 public:
  AneBackend(AneProfile profile, AneBackendOptions options);
  std::string name() const override { return options_.cpu_prologue ? "ane-hybrid" : "ane"; }
  SupportVerdict supports(const mil::Operation& op, int opset) const override;
  Result<std::unique_ptr<Executable>> compile(const mil::Program& program, const CompileOptions& options) override;
  const AneProfile& profile() const { return profile_; }
  // The lowered program of the last compile (for inspection and tests).
  const mil::Program& last_lowered() const { return last_lowered_; }
  const PolicyReport& last_report() const { return last_report_; }

 private:
  AneProfile profile_;
  AneBackendOptions options_;
  std::shared_ptr<EmulatedAneDevice> shared_;
  mil::Program last_lowered_;
  PolicyReport last_report_;
};

Result<std::unique_ptr<Backend>> make_ane_backend(const AneBackendOptions& options = {});

// Ops the lowering rewrites into ANE-accepted ops (so the backend supports them although the
// profile rejects or does not list them).
bool lowering_rewrites(const std::string& op_type);

}  // namespace ironmill::backends::ane
