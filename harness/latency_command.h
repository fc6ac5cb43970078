#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// mill-harness latency --model PATH [--prompt-tokens N] [--gen-tokens M] [--runs R] [--warmup W]
//   [--threads T] [--json FILE]: decode-engine prefill and per-token decode latency.
int latency_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
