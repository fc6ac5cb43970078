// MIL text parse / print throughput on a 100,000-op program (a chain of const + add + mul + relu).
// Counters: bytes_per_second and ops/s (operations of the program per second).
#include <benchmark/benchmark.h>

#include <string>

#include "mil/text.h"

namespace ironmill::mil {
namespace {

Program make_chain(int num_ops, const std::string& version) {
  Program p;
  p.text_version = version;
  Function f;
  const Type t = Type::tensor(DType::kFp16, {1, 64, 1, 32});
  f.inputs.push_back({"x", t});
  std::string prev = "x";
  auto named = [](Operation& op, const std::string& n) { op.attributes["name"] = Value::of(Tensor::scalar_string(n)); };
  for (int i = 0; f.body.operations.size() < static_cast<size_t>(num_ops); ++i) {
    const std::string s = std::to_string(i);
    Operation c;
    c.type = "const";
    const std::string cn = "c_" + s;
    named(c, cn);
    c.attributes["val"] = Value::of(Tensor::scalar_f64(DType::kFp16, 1.0 + i * 0.001));
    c.outputs.push_back({cn, Type::scalar(DType::kFp16)});
    f.body.operations.push_back(std::move(c));
    const char* kinds[] = {"add", "mul", "relu"};
    for (const char* k : kinds) {
      if (f.body.operations.size() >= static_cast<size_t>(num_ops)) break;
      Operation op;
      op.type = k;
      const std::string out = std::string(k) + "_" + s;
      named(op, out);
      op.inputs["x"].bindings.push_back(Binding::ref(prev));
      if (std::string(k) != "relu") op.inputs["y"].bindings.push_back(Binding::ref(cn));
      op.outputs.push_back({out, t});
      f.body.operations.push_back(std::move(op));
      prev = out;
    }
  }
  f.body.outputs = {prev};
  p.functions.push_back(std::move(f));
  return p;
}

constexpr int kOps = 100000;

void BM_ParseMilText(benchmark::State& state, const char* version) {
  const std::string text = print_mil_text(make_chain(kOps, version));
  for (auto _ : state) {
    auto r = parse_mil_text(text);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
    state.PauseTiming();  // freeing the 100k-op IR is not parsing
    { auto dead = std::move(r); }
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * kOps, benchmark::Counter::kIsRate);
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_PrintMilText(benchmark::State& state, const char* version) {
  const Program p = make_chain(kOps, version);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = print_mil_text(p);
    bytes = s.size();
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * kOps, benchmark::Counter::kIsRate);
  state.counters["bytes"] = static_cast<double>(bytes);
}

BENCHMARK_CAPTURE(BM_ParseMilText, program_1_3, "1.3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseMilText, program_1_0, "1.0")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PrintMilText, program_1_3, "1.3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PrintMilText, program_1_0, "1.0")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ironmill::mil
