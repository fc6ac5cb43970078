// The AneDevice seam (DESIGN.md §Backends) and its emulated implementation.
//   compile(mil_text, weights) -> handle | error     eval(handle, inputs, outputs)
// The emulated device parses the MIL text, applies the chip profile's compile policy (rejections
// carry the rule and its source), and evaluates with ANE numerics: fp16 at every op boundary with
// ±65504 saturation, wide accumulation inside the reference kernels (fp64 there, i.e. at least the
// ANE's fp32-class accumulator), [1,C,1,S] buffers with the profile's minimum allocation, I/O bound
// in alphabetical order of MIL names, and a per-process compile budget. Everything it produces is an
// emulation; a hardware device would implement the same interface through the private API.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/ane/policy.h"
#include "backends/ane/profile.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::backends::ane {

// An IOSurface-like buffer: logical [1,C,1,S], packed C-major (S innermost), fp16 unless stated.
struct AneTensor {
  mil::DType dtype = mil::DType::kFp16;
  int64_t channels = 0, seq = 0;
  size_t alloc_bytes = 0;        // >= channels*seq*element bytes; the device checks the profile minimum
  std::vector<uint8_t> storage;  // alloc_bytes long
  static AneTensor make(int64_t channels, int64_t seq, size_t min_alloc, mil::DType dtype = mil::DType::kFp16);
  size_t logical_bytes() const { return static_cast<size_t>(channels * seq) * mil::dtype_element_bytes(dtype); }
  // Tensor view [1,C,1,S] of the logical part (copy) and the reverse.
  mil::Tensor to_tensor() const;
  Status from_tensor(const mil::Tensor& t);  // t must have numel C*S; converted to `dtype`
};

using WeightFiles = std::map<std::string, std::vector<uint8_t>>;  // "@model_path/weights/x.bin" -> bytes
using ProgramHandle = int64_t;

struct IoDesc {
  std::string name;
  mil::DType dtype;
  int64_t channels, seq;
};

class AneDevice {
 public:
  virtual ~AneDevice() = default;
  virtual std::string kind() const = 0;  // "emulated" or "hardware"
  virtual Result<ProgramHandle> compile(const std::string& mil_text, const WeightFiles& weights) = 0;
  // inputs / outputs in alphabetical order of the function's input / output names.
  virtual Status eval(ProgramHandle h, const std::vector<const AneTensor*>& inputs, const std::vector<AneTensor*>& outputs) = 0;
  virtual Result<std::vector<IoDesc>> inputs(ProgramHandle h) const = 0;   // binding order
  virtual Result<std::vector<IoDesc>> outputs(ProgramHandle h) const = 0;  // binding order
  virtual int compile_count() const = 0;
  virtual int remaining_budget() const = 0;
  virtual size_t min_buffer_bytes() const = 0;
};

class EmulatedAneDevice final : public AneDevice {
 public:
  explicit EmulatedAneDevice(AneProfile profile);
  std::string kind() const override { return "emulated"; }
  Result<ProgramHandle> compile(const std::string& mil_text, const WeightFiles& weights) override;
  Status eval(ProgramHandle h, const std::vector<const AneTensor*>& inputs, const std::vector<AneTensor*>& outputs) override;
  Result<std::vector<IoDesc>> inputs(ProgramHandle h) const override;
  Result<std::vector<IoDesc>> outputs(ProgramHandle h) const override;
  int compile_count() const override { return compiles_; }
  int remaining_budget() const override;
  size_t min_buffer_bytes() const override;
  const AneProfile& profile() const { return profile_; }
  // The policy report of the last compile (also for rejected programs).
  const PolicyReport& last_report() const { return last_report_; }

 private:
  struct Compiled {
    mil::Program program;
    std::vector<IoDesc> ins, outs;
  };
  AneProfile profile_;
  int compiles_ = 0;
  std::vector<std::unique_ptr<Compiled>> programs_;
  PolicyReport last_report_;
};

// Rounds a float value the way the ANE's fp16 datapath stores it: saturate to ±65504, round to fp16.
double ane_fp16(double v);

}  // namespace ironmill::backends::ane
