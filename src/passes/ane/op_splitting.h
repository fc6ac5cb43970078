// ane-op-splitting: an op whose memory (weight + input + output bytes) exceeds the budget is split
// along its output channels into ceil(memory / budget) tiles (at most one per channel), each tile a
// conv / linear of its own weight slice, joined by concat on the channel axis. The budget comes from
// `--ane-memory-budget` (parse_memory_size: B, K/KB, M/MB, G/GB, T/TB, 1024-based, decimals allowed).
#pragma once
#include <cstdint>
#include <string>

#include "passes/pass.h"

namespace ironmill::passes::ane {

// "512MB" -> 536870912. Errors name the text.
Result<uint64_t> parse_memory_size(const std::string& text);

inline constexpr uint64_t kDefaultMemoryBudget = 1ull << 30;  // ironmill's default: 1 GiB

class OpSplittingPass final : public Pass {
 public:
  explicit OpSplittingPass(uint64_t budget_bytes = kDefaultMemoryBudget) : budget_(budget_bytes) {}
  std::string name() const override { return "ane-op-splitting"; }
  Result<bool> run(mil::Program& program) override;

 private:
  uint64_t budget_;
};

}  // namespace ironmill::passes::ane
