#include "passes/ane/kv_cache.h"

namespace ironmill::passes::ane {

bool is_cache_input_name(const std::string& name) {
  for (const char* p : {"past_key_values", "past_key", "past_value", "key_cache", "value_cache", "cache"})
    if (name.find(p) != std::string::npos) return true;
  return false;
}

Result<bool> KvCachePass::run(mil::Program& program) {
  if (max_seq_ < 1) return invalid_argument("max_seq_length must be positive");
  bool changed = false;
  for (auto& f : program.functions)
    for (auto& in : f.inputs) {
      if (!is_cache_input_name(in.name) || !in.type.is_tensor() || !in.type.rank_known) continue;
      bool seq_done = false;
      for (size_t d = 0; d < in.type.dims.size(); ++d) {
        if (in.type.dims[d] != mil::kUnknownDim) continue;
        if (d == 0) in.type.dims[d] = 1;
        else if (!seq_done) in.type.dims[d] = max_seq_, seq_done = true;
        else in.type.dims[d] = 64;
        changed = true;
      }
    }
  return changed;
}

}  // namespace ironmill::passes::ane
