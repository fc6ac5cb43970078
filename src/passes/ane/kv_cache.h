// ane-kv-cache: the ANE compiles static shapes only, so KV-cache inputs get static dimensions.
// Inputs whose name marks a cache (past_key_values, past_key, past_value, key_cache, value_cache,
// cache) have their unknown dims materialised: batch (dim 0) -> 1, the first other unknown dim (the
// sequence) -> max_seq_length, any further unknown dim -> 64 (ironmill's choices, §3.3). ironmill also
// inserts private kv_cache_read/update ops; MIL has no such ops, so none are inserted here.
#pragma once
#include <cstdint>

#include "passes/pass.h"

namespace ironmill::passes::ane {

bool is_cache_input_name(const std::string& name);

class KvCachePass final : public Pass {
 public:
  explicit KvCachePass(int64_t max_seq_length = 2048) : max_seq_(max_seq_length) {}
  std::string name() const override { return "ane-kv-cache"; }
  Result<bool> run(mil::Program& program) override;

 private:
  int64_t max_seq_;
};

}  // namespace ironmill::passes::ane
