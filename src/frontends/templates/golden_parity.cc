#include "frontends/templates/golden_parity.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors/safetensors.h"
#include "frontends/templates/runner.h"

namespace ironmill::templates {

namespace fs = std::filesystem;

ParityCheck compare_rows(const std::string& name, const std::vector<float>& actual, const std::vector<float>& expected,
                         int64_t rows, const ParityGates& gates) {
  ParityCheck c;
  c.name = name;
  if (actual.size() != expected.size() || rows <= 0 || expected.size() % static_cast<size_t>(rows) != 0) {
    c.detail = "size " + std::to_string(actual.size()) + " vs expected " + std::to_string(expected.size());
    return c;
  }
  const size_t cols = expected.size() / static_cast<size_t>(rows);
  bool finite = true;
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0, na = 0, ne = 0;
    for (size_t j = 0; j < cols; ++j) {
      const double a = actual[static_cast<size_t>(r) * cols + j], e = expected[static_cast<size_t>(r) * cols + j];
      if (!std::isfinite(a)) finite = false;
      dot += a * e;
      na += a * a;
      ne += e * e;
      c.max_abs = std::max(c.max_abs, std::fabs(a - e));
      c.max_ref = std::max(c.max_ref, std::fabs(e));
    }
    const double cos = (na == 0 && ne == 0) ? 1.0 : (na == 0 || ne == 0) ? 0.0 : dot / std::sqrt(na * ne);
    c.min_cosine = std::min(c.min_cosine, cos);
  }
  c.pass = finite && c.min_cosine >= gates.min_cosine && (gates.max_abs_rel <= 0 || c.max_abs <= gates.max_abs_rel * c.max_ref);
  if (!finite) c.detail = "non-finite values";
  return c;
}

namespace {

ParityCheck compare_ids(const std::string& name, const std::vector<int32_t>& actual, const std::vector<int64_t>& expected,
                        double min_fraction) {
  ParityCheck c;
  c.name = name;
  if (actual.size() != expected.size()) {
    c.detail = std::to_string(actual.size()) + " ids vs " + std::to_string(expected.size()) + " expected";
    return c;
  }
  size_t equal = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] == expected[i]) { ++equal; continue; }
    if (c.detail.empty())
      c.detail = "first mismatch at " + std::to_string(i) + ": " + std::to_string(actual[i]) + " vs " +
                 std::to_string(expected[i]);
  }
  const double fraction = expected.empty() ? 1.0 : static_cast<double>(equal) / static_cast<double>(expected.size());
  c.pass = min_fraction >= 1.0 ? equal == expected.size() : fraction + 1e-12 >= min_fraction;
  if (equal != expected.size())
    c.detail += " (" + std::to_string(equal) + "/" + std::to_string(expected.size()) + " equal)";
  return c;
}

Result<std::vector<float>> golden_tensor(const formats::safetensors::File& f, const std::string& name) {
  IM_ASSIGN_OR_RETURN(mil::Tensor t, f.tensor(name));
  return t.to_f32();
}

std::vector<float> flatten(const std::vector<std::vector<float>>& rows) {
  std::vector<float> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

Status run_case(const std::string& dir, const std::string& backend, const ParityGates& gates, ParityResult& r) {
  std::ifstream in(fs::path(dir) / "golden.json");
  if (!in) return io_error(dir + "/golden.json: cannot open");
  nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded()) return parse_error(dir + "/golden.json: invalid JSON");
  IM_ASSIGN_OR_RETURN(auto golden, formats::safetensors::File::open((fs::path(dir) / "golden.safetensors").string()));
  IM_ASSIGN_OR_RETURN(auto runner, open_language_model(dir, backend));
  const int64_t V = runner->config().vocab_size;
  const bool hf_tiny = golden.find("input_ids") != nullptr;

  std::vector<int32_t> ids;
  std::vector<int64_t> expected_ids;
  if (hf_tiny) {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, golden.tensor("input_ids"));
    for (int64_t v : t.to_i64()) ids.push_back(static_cast<int32_t>(v));
    IM_ASSIGN_OR_RETURN(mil::Tensor g, golden.tensor("generated_ids"));
    expected_ids = g.to_i64();
  } else {
    if (!meta.contains("prompt_ids") || !meta.contains("greedy_ids"))
      return invalid_argument(dir + "/golden.json: neither input_ids (golden.safetensors) nor prompt_ids/greedy_ids");
    for (auto& v : meta["prompt_ids"]) ids.push_back(v.get<int32_t>());
    for (auto& v : meta["greedy_ids"]) expected_ids.push_back(v.get<int64_t>());
  }
  const int64_t T = static_cast<int64_t>(ids.size());

  // Cache-free prefill: logits and hidden states.
  IM_ASSIGN_OR_RETURN(PrefillResult p, runner->prefill(ids, 0, hf_tiny));
  IM_ASSIGN_OR_RETURN(auto ref_logits, golden_tensor(golden, hf_tiny ? "prefill_logits" : "prompt_logits"));
  r.checks.push_back(compare_rows("prefill_logits", p.logits, ref_logits, T, gates));
  if (hf_tiny) {
    IM_ASSIGN_OR_RETURN(auto ref_hidden, golden_tensor(golden, "hidden_states"));
    const size_t per = ref_hidden.size() / p.hidden.size();
    if (ref_hidden.size() != per * p.hidden.size())
      return invalid_argument(dir + ": golden hidden_states has " + std::to_string(ref_hidden.size()) +
                              " values, not a multiple of " + std::to_string(p.hidden.size()) + " entries");
    for (size_t i = 0; i < p.hidden.size(); ++i) {
      std::vector<float> ref(ref_hidden.begin() + static_cast<int64_t>(i * per),
                             ref_hidden.begin() + static_cast<int64_t>((i + 1) * per));
      r.checks.push_back(compare_rows("hidden_states[" + std::to_string(i) + "]", p.hidden[i], ref, T, gates));
    }
  }

  // Greedy generation through the decode function and its cache.
  const int64_t n = static_cast<int64_t>(expected_ids.size());
  IM_ASSIGN_OR_RETURN(GreedyResult g, runner->greedy(ids, n));
  r.checks.push_back(compare_ids(hf_tiny ? "generated_ids" : "greedy_ids", g.ids, expected_ids, gates.min_id_fraction));
  IM_ASSIGN_OR_RETURN(auto ref_decode, golden_tensor(golden, "decode_logits"));
  r.checks.push_back(compare_rows("decode_logits", flatten(g.logits), ref_decode, n, gates));

  if (hf_tiny) {
    std::vector<int32_t> all = ids;
    for (int64_t v : expected_ids) all.push_back(static_cast<int32_t>(v));
    IM_ASSIGN_OR_RETURN(PrefillResult f, runner->prefill(all, 0, false));
    IM_ASSIGN_OR_RETURN(auto ref_full, golden_tensor(golden, "full_logits"));
    r.checks.push_back(compare_rows("full_logits", f.logits, ref_full, static_cast<int64_t>(all.size()), gates));
  }
  (void)V;
  return Status::Ok();
}

}  // namespace

ParityResult run_golden_case(const std::string& case_dir, const std::string& backend, const ParityGates& gates) {
  ParityResult r;
  r.case_name = fs::path(case_dir).filename().string();
  if (r.case_name.empty()) r.case_name = fs::path(case_dir).parent_path().filename().string();
  r.backend = backend;
  const auto t0 = std::chrono::steady_clock::now();
  Status s = run_case(case_dir, backend, gates, r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    r.error = s.message();
    r.pass = false;
    return r;
  }
  r.pass = !r.checks.empty();
  for (const auto& c : r.checks) r.pass = r.pass && c.pass;
  return r;
}

}  // namespace ironmill::templates
