// The engine on GGUF files written by our exporter (ironmill export-gguf's library): kjv-llama-5m as F16,
// Q8_0 and Q4_0 gives prompt logits close to the engine on the SafeTensors checkpoint, and its greedy
// continuation from the F16 file equals Hugging Face's. Arch "llama" stores q/k rows permuted to
// interleaved RoPE pairs, so this also checks the interleaved rotation path. Quantized matrices are read
// in place by the kernels (no dequantized copy).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "frontends/gguf_export/gguf_export.h"

namespace ironmill::engine {
namespace {

namespace fs = std::filesystem;
const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

double min_row_cosine(const std::vector<float>& a, const std::vector<float>& b, int64_t rows) {
  const size_t cols = a.size() / static_cast<size_t>(rows);
  double worst = 1.0;
  for (int64_t r = 0; r < rows; ++r) {
    double d = 0, na = 0, nb = 0;
    for (size_t j = 0; j < cols; ++j) {
      const double x = a[r * cols + j], y = b[r * cols + j];
      d += x * y;
      na += x * x;
      nb += y * y;
    }
    worst = std::min(worst, d / std::sqrt(na * nb));
  }
  return worst;
}

struct Case {
  const char* type;
  double min_cosine;
};

class EngineGguf : public ::testing::TestWithParam<Case> {};

TEST_P(EngineGguf, LogitsCloseToSafeTensors) {
  const Case c = GetParam();
  const fs::path out = fs::temp_directory_path() / ("ironmill-engine-kjv-" + std::to_string(::getpid()) + "-" + std::string(c.type) + ".gguf");
  frontends::gguf_export::ExportOptions opt;
  auto type = frontends::gguf_export::parse_output_type(c.type);
  ASSERT_TRUE(type.ok());
  opt.type = *type;
  auto ex = frontends::gguf_export::export_gguf(kKjv, out.string(), opt);
  ASSERT_TRUE(ex.ok()) << ex.status().message();

  std::ifstream gin(kKjv + "/golden.json");
  const auto g = nlohmann::json::parse(gin);
  const auto prompt = g["prompt_ids"].get<std::vector<int32_t>>();
  auto ref = Engine::open(kKjv);
  auto q = Engine::open(out.string());
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  ASSERT_TRUE(q.ok()) << q.status().message();
  PrefillExtras er, eq;
  er.all_logits = eq.all_logits = true;
  ASSERT_TRUE((*ref)->prefill(prompt, &er).ok());
  ASSERT_TRUE((*q)->prefill(prompt, &eq).ok());
  const double cos = min_row_cosine(eq.logits, er.logits, static_cast<int64_t>(prompt.size()));
  std::cout << std::setprecision(9) << c.type << ": worst prompt-logit cosine vs SafeTensors " << cos << " (" << (*q)->describe() << ")\n";
  EXPECT_GE(cos, c.min_cosine);
  if (std::string(c.type) == "f16") {
    // Greedy continuation from the GGUF file = Hugging Face's greedy ids.
    const auto expected = g["greedy_ids"].get<std::vector<int32_t>>();
    (*q)->reset();
    auto l = (*q)->prefill(prompt);
    ASSERT_TRUE(l.ok());
    std::vector<int32_t> got;
    for (size_t i = 0; i < expected.size(); ++i) {
      int32_t best = 0;
      for (size_t j = 1; j < l->size(); ++j)
        if ((*l)[j] > (*l)[static_cast<size_t>(best)]) best = static_cast<int32_t>(j);
      got.push_back(best);
      if (i + 1 < expected.size()) {
        l = (*q)->decode_step(best);
        ASSERT_TRUE(l.ok());
      }
    }
    EXPECT_EQ(got, expected);
  }
  fs::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Types, EngineGguf,
                         ::testing::Values(Case{"f16", 0.99999}, Case{"q8_0", 0.999}, Case{"q4_0", 0.99},
                                           Case{"q4_k", 0.99}, Case{"q6_k", 0.999}),
                         [](const auto& info) { return std::string(info.param.type); });

}  // namespace
}  // namespace ironmill::engine
