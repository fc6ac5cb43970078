// `ironmill validate` and `ironmill compile --runtime ane`: the ANE Direct commands. Both run the
// emulated compile policy of a chip profile; neither touches an ANE (none exists here).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/ane/ane_backend.h"
#include "backends/ane/policy.h"
#include "backends/ane/profile.h"
#include "formats/bundles/ironml.h"
#include "formats/onnx/onnx_model.h"
#include "frontends/onnx/onnx_importer.h"
#include "mil/text.h"
#include "mil/verifier.h"
#include "passes/ane/pipeline.h"

namespace {

using namespace ironmill;
namespace ane = ironmill::backends::ane;
namespace bundles = ironmill::formats::bundles;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Loads MIL text, an .ironml bundle (every sub-program, weights resolved) or an ONNX model.
Result<std::vector<std::pair<std::string, mil::Program>>> load_programs(const std::string& path) {
  std::vector<std::pair<std::string, mil::Program>> out;
  if (ends_with(path, ".ironml") || ends_with(path, ".ironml/") || std::filesystem::is_directory(path)) {
    IM_ASSIGN_OR_RETURN(bundles::IronmlBundle b, bundles::read_ironml(path));
    for (const auto& s : b.sub_programs) {
      IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(s.mil_text, path + "/programs/" + s.name + ".mil"));
      IM_RETURN_IF_ERROR(bundles::resolve_weights(p, s));
      out.emplace_back(s.name, std::move(p));
    }
    return out;
  }
  if (ends_with(path, ".onnx")) {
    IM_ASSIGN_OR_RETURN(formats::onnx::OnnxModel m, formats::onnx::load_model(path));
    IM_ASSIGN_OR_RETURN(frontends::onnx::ImportResult r, frontends::onnx::import_model(m));
    out.emplace_back("main", std::move(r.program));
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(ss.str(), path));
  IM_RETURN_IF_ERROR(mil::infer_and_verify(p).with_context(path));
  out.emplace_back("main", std::move(p));
  return out;
}

const char* kValidateUsage =
    "usage: ironmill validate INPUT [--profile NAME] [--format text|json] [--lower] [--ane-memory-budget SIZE]\n"
    "  INPUT: MIL text, an .ironml bundle or an ONNX model. Prints a per-op ANE verdict (rule and source),\n"
    "  what runs on the ANE and what falls back, weights against the size walls. --lower runs the ANE\n"
    "  lowering first. Profiles: src/backends/ane/profiles (default m3_pro). EMULATED policy, not hardware.\n"
    "  Exit 0 when every program would compile, 1 when not, 2 on bad input.\n";

}  // namespace

int cmd_validate(const std::vector<std::string>& args) {
  std::string input, profile = ane::kDefaultProfile, format = "text";
  bool lower = false;
  passes::ane::LoweringOptions lo;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&](const char* flag) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::cerr << "ironmill validate: " << flag << " needs a value\n" << kValidateUsage;
        return nullptr;
      }
      return &args[++i];
    };
    if (args[i] == "--profile") {
      auto v = need("--profile");
      if (!v) return 2;
      profile = *v;
    } else if (args[i] == "--format") {
      auto v = need("--format");
      if (!v) return 2;
      format = *v;
    } else if (args[i] == "--lower") {
      lower = true;
    } else if (args[i] == "--ane-memory-budget") {
      auto v = need("--ane-memory-budget");
      if (!v) return 2;
      auto b = passes::ane::parse_memory_size(*v);
      if (!b.ok()) { std::cerr << "ironmill validate: " << b.status().message() << "\n"; return 2; }
      lo.memory_budget = *b;
    } else if (args[i] == "-h" || args[i] == "--help") {
      std::cout << kValidateUsage;
      return 0;
    } else if (!args[i].empty() && args[i][0] == '-') {
      std::cerr << "ironmill validate: unknown option " << args[i] << "\n" << kValidateUsage;
      return 2;
    } else if (input.empty()) {
      input = args[i];
    } else {
      std::cerr << "ironmill validate: one INPUT expected\n" << kValidateUsage;
      return 2;
    }
  }
  if (input.empty()) { std::cerr << kValidateUsage; return 2; }
  if (format != "text" && format != "json") { std::cerr << "ironmill validate: --format text|json\n"; return 2; }
  auto prof = ane::load_profile(profile);
  if (!prof.ok()) { std::cerr << "ironmill validate: " << prof.status().message() << "\n"; return 2; }
  auto progs = load_programs(input);
  if (!progs.ok()) { std::cerr << "ironmill validate: " << progs.status().message() << "\n"; return 2; }
  bool all = true;
  std::string json_out = progs->size() > 1 ? "[\n" : "";
  for (size_t k = 0; k < progs->size(); ++k) {
    auto& [name, p] = (*progs)[k];
    if (lower) {
      auto pm = passes::ane::make_ane_pipeline(lo);
      if (Status s = pm.run(p); !s.ok()) { std::cerr << "ironmill validate: " << name << ": " << s.message() << "\n"; return 2; }
    }
    auto r = ane::evaluate_program(p, *prof);
    all = all && r.compiles();
    if (format == "json") {
      json_out += ane::report_to_json(r, *prof) + (k + 1 < progs->size() ? ",\n" : "\n");
    } else {
      if (progs->size() > 1) std::cout << "== sub-program " << name << "\n";
      std::cout << ane::report_to_text(r, *prof) << (k + 1 < progs->size() ? "\n" : "");
    }
  }
  if (format == "json") std::cout << json_out << (progs->size() > 1 ? "]\n" : "");
  return all ? 0 : 1;
}

namespace {
const char* kCompileUsage =
    "usage: ironmill compile INPUT --runtime ane -o OUT.ironml [--profile NAME] [--ane-memory-budget SIZE]\n"
    "                        [--causal-attention] [--no-validate]\n"
    "  Lowers INPUT (MIL text or ONNX) for the ANE and writes an .ironml bundle (manifest.json,\n"
    "  programs/main.mil, weights/main.bin). The emulated policy must accept the lowered program\n"
    "  unless --no-validate. Only --runtime ane is implemented here.\n";
}  // namespace

int cmd_compile(const std::vector<std::string>& args) {
  std::string input, runtime, out, profile = ane::kDefaultProfile;
  bool validate = true;
  passes::ane::LoweringOptions lo;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&](const char* flag) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::cerr << "ironmill compile: " << flag << " needs a value\n" << kCompileUsage;
        return nullptr;
      }
      return &args[++i];
    };
    const std::string& a = args[i];
    const std::string* v = nullptr;
    if (a == "--runtime") { if (!(v = need("--runtime"))) return 2; runtime = *v; }
    else if (a == "-o" || a == "--output") { if (!(v = need("-o"))) return 2; out = *v; }
    else if (a == "--profile") { if (!(v = need("--profile"))) return 2; profile = *v; }
    else if (a == "--ane-memory-budget") {
      if (!(v = need("--ane-memory-budget"))) return 2;
      auto b = passes::ane::parse_memory_size(*v);
      if (!b.ok()) { std::cerr << "ironmill compile: " << b.status().message() << "\n"; return 2; }
      lo.memory_budget = *b;
    } else if (a == "--causal-attention") lo.causal_attention = true;
    else if (a == "--no-validate") validate = false;
    else if (a == "-h" || a == "--help") { std::cout << kCompileUsage; return 0; }
    else if (!a.empty() && a[0] == '-') { std::cerr << "ironmill compile: unknown option " << a << "\n" << kCompileUsage; return 2; }
    else if (input.empty()) input = a;
    else { std::cerr << "ironmill compile: one INPUT expected\n" << kCompileUsage; return 2; }
  }
  if (input.empty() || out.empty() || runtime.empty()) { std::cerr << kCompileUsage; return 2; }
  if (runtime != "ane") {
    std::cerr << "ironmill compile: --runtime " << runtime << " is not implemented by this command (only ane)\n";
    return 2;
  }
  auto prof = ane::load_profile(profile);
  if (!prof.ok()) { std::cerr << "ironmill compile: " << prof.status().message() << "\n"; return 2; }
  auto progs = load_programs(input);
  if (!progs.ok()) { std::cerr << "ironmill compile: " << progs.status().message() << "\n"; return 2; }
  bundles::IronmlBundle bundle;
  for (auto& [name, p] : *progs) {
    mil::Program main;
    main.functions = {p.functions.at(0)};
    main.functions[0].name = "main";
    auto pm = passes::ane::make_ane_pipeline(lo);
    if (Status s = pm.run(main); !s.ok()) { std::cerr << "ironmill compile: " << s.message() << "\n"; return 1; }
    auto r = ane::evaluate_program(main, *prof);
    if (validate && !r.compiles()) {
      std::cerr << "ironmill compile: the emulated " << prof->name << " policy rejects `" << name << "`:\n"
                << ane::report_to_text(r, *prof);
      return 1;
    }
    auto sub = bundles::make_sub_program(main, name);
    if (!sub.ok()) { std::cerr << "ironmill compile: " << sub.status().message() << "\n"; return 1; }
    bundle.sub_programs.push_back(std::move(*sub));
    std::cout << name << ": " << r.ane_ops() << "/" << r.ops.size() << " ops on the ANE (emulated policy "
              << prof->name << "), weights " << r.weight_bytes << " bytes\n";
  }
  if (Status s = bundles::write_ironml(bundle, out); !s.ok()) { std::cerr << "ironmill compile: " << s.message() << "\n"; return 1; }
  std::cout << "wrote " << out << "\n";
  return 0;
}
