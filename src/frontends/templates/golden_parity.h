// Golden parity: runs a template on a backend and compares with Hugging Face goldens (a case directory
// holding config.json, model.safetensors, golden.safetensors and golden.json, as in golden/<case>/).
//
// hf-tiny cases: prefill_logits, every hidden_states entry, greedy generated_ids through the decode
// function with the cache, decode_logits, full_logits (the prompt + generated ids recomputed without a
// cache). kjv-style cases: prompt_logits, greedy_ids and decode_logits.
// Gates: cosine >= min_cosine at every position, max |actual - expected| <= max_abs_rel * max |expected|
// over the tensor, ids exactly equal (or at least min_id_fraction of them, position by position).
#pragma once
#include <string>
#include <vector>

#include "util/status.h"

namespace ironmill::templates {

struct ParityGates {
  double min_cosine = 0.99999;
  double max_abs_rel = 1e-4;  // <= 0: not gated (reduced-precision backends gate on cosine only)
  double min_id_fraction = 1.0;  // 1: greedy ids exact; 0.875: at least 7 of 8 equal
};

struct ParityCheck {
  std::string name;        // e.g. "prefill_logits", "hidden_states[2]", "generated_ids"
  bool pass = false;
  double min_cosine = 1.0;  // worst position
  double max_abs = 0.0;     // max |Δ|
  double max_ref = 0.0;     // max |expected|
  std::string detail;       // ids: first mismatch
};

struct ParityResult {
  std::string case_name, backend;
  bool pass = false;
  std::string error;  // set when the case could not run (the case fails)
  std::vector<ParityCheck> checks;
  double seconds = 0.0;
};

// Never fails: a case that cannot run comes back with `error` set and pass = false.
ParityResult run_golden_case(const std::string& case_dir, const std::string& backend, const ParityGates& gates);

// The per-position comparison used above: `rows` x `cols` row-major.
ParityCheck compare_rows(const std::string& name, const std::vector<float>& actual, const std::vector<float>& expected,
                         int64_t rows, const ParityGates& gates);

}  // namespace ironmill::templates
