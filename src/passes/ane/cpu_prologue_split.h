// ane-cpu-prologue-split: the ANE takes no integer or boolean arithmetic and no gathers, so what an
// LLM computes from its integer inputs — the embedding gather of `token`/`input_ids`, and in decode the
// causal mask, the KV-cache write one-hot/keep masks and the RoPE rows picked by `position` — runs on
// the CPU first and reaches the ANE as float inputs, the cache itself staying an explicit input/output
// of the ANE function (as ANE deployments such as ironmill's runtime and ANEMLL do).
//
// Splits function `main` into `main_cpu_prologue` (every op whose operands are all function inputs,
// constants or prologue values and that `cpu_only` claims: by default, any op with an integer or bool
// tensor operand or result) and a new `main` that takes the prologue's values it reads as inputs.
// Program outputs computed by the prologue become prologue outputs only; run the prologue, then main,
// and merge (AneBackend's ane-hybrid does). Idempotent: the new main has no CPU-only op fed by inputs.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "passes/pass.h"

namespace ironmill::passes::ane {

using CpuOnlyPredicate = std::function<bool(const mil::Operation&, const std::map<std::string, mil::Type>& types)>;

// Integer or bool tensor operand/result (the ANE has no such arithmetic path).
bool has_integer_or_bool_tensor(const mil::Operation& op, const std::map<std::string, mil::Type>& types);

std::string prologue_function_name(const std::string& function);

class CpuPrologueSplitPass final : public Pass {
 public:
  explicit CpuPrologueSplitPass(CpuOnlyPredicate cpu_only = has_integer_or_bool_tensor, std::string function = "main")
      : cpu_only_(std::move(cpu_only)), function_(std::move(function)) {}
  std::string name() const override { return "ane-cpu-prologue-split"; }
  Result<bool> run(mil::Program& program) override;

 private:
  CpuOnlyPredicate cpu_only_;
  std::string function_;
};

}  // namespace ironmill::passes::ane
