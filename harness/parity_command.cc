// mill-harness parity --golden: the golden spec (golden/parity.json: cases x backends x gates) run over
// every backend that exists; a backend the build lacks is listed as unavailable, not failed.
#include "harness/parity_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/backend.h"
#include "frontends/templates/golden_parity.h"
#include "frontends/templates/runner.h"
#include "harness/report.h"

namespace ironmill::harness {
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
const char* kUsage =
    "usage: mill-harness parity --golden [--spec FILE] [--case NAME]... [--backend NAME]... [--json FILE] [--md FILE]\n"
    "  Runs every case of the golden spec (default golden/parity.json) on every backend it lists that this\n"
    "  build has, checks the gates, prints the table and writes reports/parity.json and reports/parity.md.\n"
    "  Exit 1 when any gate fails on an available backend.\n";

std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct Row {
  templates::ParityResult r;
  std::string status;  // pass | fail | error | unavailable
};

// Worst figures of a result, for the table.
void worst(const templates::ParityResult& r, double& cos, double& rel, std::string& ids) {
  cos = 1.0;
  rel = 0.0;
  ids = "-";
  for (const auto& c : r.checks) {
    if (c.name.find("_ids") != std::string::npos) {
      ids = c.pass && c.detail.empty() ? "exact" : std::string(c.pass ? "within gate: " : "MISMATCH: ") + c.detail;
      continue;
    }
    cos = std::min(cos, c.min_cosine);
    if (c.max_ref > 0) rel = std::max(rel, c.max_abs / c.max_ref);
  }
}
}  // namespace

int parity_command(const std::vector<std::string>& args) {
  std::string spec_path = std::string(IRONMILL_SOURCE_DIR) + "/golden/parity.json";
  std::string json_path = "reports/parity.json", md_path = "reports/parity.md";
  std::vector<std::string> only_cases, only_backends;
  bool golden = false;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "mill-harness parity: " << flag << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return args[++i];
    };
    if (args[i] == "--golden") golden = true;
    else if (args[i] == "--spec") spec_path = need("--spec");
    else if (args[i] == "--case") only_cases.push_back(need("--case"));
    else if (args[i] == "--backend") only_backends.push_back(need("--backend"));
    else if (args[i] == "--json") json_path = need("--json");
    else if (args[i] == "--md") md_path = need("--md");
    else if (args[i] == "-h" || args[i] == "--help") { std::cout << kUsage; return 0; }
    else { std::cerr << "mill-harness parity: unknown argument " << args[i] << "\n" << kUsage; return 2; }
  }
  if (!golden) { std::cerr << "mill-harness parity: only --golden parity exists so far\n" << kUsage; return 2; }

  std::ifstream in(spec_path);
  if (!in) { std::cerr << "mill-harness parity: cannot open " << spec_path << "\n"; return 2; }
  json spec = json::parse(in, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) { std::cerr << spec_path << ": invalid JSON\n"; return 2; }
  for (const char* key : {"cases", "backends", "gates"})
    if (!spec.contains(key)) { std::cerr << spec_path << ": missing key `" << key << "`\n"; return 2; }
  // Gates: the spec's default, overridden per backend entry ({"name", "cases", "gates", "about"}).
  auto read_gates = [&](const json& g, templates::ParityGates base_gates) -> templates::ParityGates {
    base_gates.min_cosine = g.value("min_cosine", base_gates.min_cosine);
    base_gates.max_abs_rel = g.contains("max_abs_rel") && g["max_abs_rel"].is_null() ? 0.0
                                                                                      : g.value("max_abs_rel", base_gates.max_abs_rel);
    if (g.contains("ids") && g["ids"].is_object()) base_gates.min_id_fraction = g["ids"].value("min_fraction", 1.0);
    return base_gates;
  };
  const templates::ParityGates gates = read_gates(spec["gates"], templates::ParityGates{});
  const fs::path base = fs::path(spec_path).parent_path();

  std::vector<std::string> all_cases;
  for (const auto& c : spec["cases"]) all_cases.push_back(c.is_string() ? c.get<std::string>() : c.value("name", ""));
  auto selected_case = [&](const std::string& n) {
    return only_cases.empty() || std::find(only_cases.begin(), only_cases.end(), n) != only_cases.end();
  };
  struct BackendEntry {
    std::string name;
    std::vector<std::string> cases;
    templates::ParityGates gates;
  };
  std::vector<BackendEntry> backends;
  size_t selected_cases = 0;
  for (const auto& b : spec["backends"]) {
    BackendEntry e;
    e.name = b.is_string() ? b.get<std::string>() : b.value("name", "");
    e.gates = b.is_object() && b.contains("gates") ? read_gates(b["gates"], gates) : gates;
    std::vector<std::string> wanted = all_cases;
    if (b.is_object() && b.contains("cases")) wanted = b["cases"].get<std::vector<std::string>>();
    for (const auto& c : wanted)
      if (selected_case(c)) e.cases.push_back(c);
    if (!only_backends.empty() && std::find(only_backends.begin(), only_backends.end(), e.name) == only_backends.end())
      continue;
    selected_cases += e.cases.size();
    backends.push_back(std::move(e));
  }
  if (selected_cases == 0) { std::cerr << "mill-harness parity: no cases selected\n"; return 2; }

  std::vector<Row> rows;
  int failures = 0;
  for (const auto& entry : backends) {
    const std::string& b = entry.name;
    Status available = templates::language_model_available(b);
    for (const auto& c : entry.cases) {
      Row row;
      row.r.case_name = c;
      row.r.backend = b;
      if (!available.ok()) {
        row.status = "unavailable";
        row.r.error = available.message();
      } else {
        row.r = templates::run_golden_case((base / c).string(), b, entry.gates);
        row.r.case_name = c;
        row.status = !row.r.error.empty() ? "error" : row.r.pass ? "pass" : "fail";
        if (row.status != "pass") ++failures;
      }
      double cos, rel;
      std::string ids;
      worst(row.r, cos, rel, ids);
      std::cout << (row.status == "pass" ? "PASS " : row.status == "unavailable" ? "N/A  " : "FAIL ") << c << " [" << b
                << "] min cos " << fmt("%.10f", cos) << ", max|d|/max|ref| " << fmt("%.2e", rel) << ", ids " << ids
                << ", " << fmt("%.1f", row.r.seconds) << " s"
                << (row.r.error.empty() ? "" : "  " + row.r.error) << "\n";
      for (const auto& ch : row.r.checks)
        if (!ch.pass)
          std::cout << "     " << ch.name << ": min cos " << fmt("%.7f", ch.min_cosine) << ", max|d| "
                    << fmt("%.3e", ch.max_abs) << " (max|ref| " << fmt("%.3e", ch.max_ref) << ") " << ch.detail << "\n";
      rows.push_back(std::move(row));
    }
  }

  json out;
  out["schema"] = "ironmill.parity/1";
  out["spec"] = fs::path(spec_path).filename().string();
  auto gates_json = [](const templates::ParityGates& g) {
    return json{{"min_cosine", g.min_cosine},
                {"max_abs_rel", g.max_abs_rel > 0 ? json(g.max_abs_rel) : json(nullptr)},
                {"ids", g.min_id_fraction >= 1.0 ? json("exact") : json{{"min_fraction", g.min_id_fraction}}}};
  };
  out["gates"] = gates_json(gates);
  out["backend_gates"] = json::object();
  for (const auto& e : backends) out["backend_gates"][e.name] = gates_json(e.gates);
  out["note"] = "All backends run on Linux; no Apple hardware is involved.";
  out["results"] = json::array();
  std::ostringstream md;
  md << "# Golden parity\n\n"
     << "Generated by `mill-harness parity --golden` from `golden/parity.json`. Goldens: Hugging Face transformers "
        "5.17 (fp32, eager attention). Gates: cosine >= "
     << gates.min_cosine << " at every position, max |Δ| <= " << gates.max_abs_rel
     << " · max |expected|, greedy ids exact (through the decode function and its KV cache), unless a backend "
        "lists its own gates below. "
        "Every backend here runs on Linux; none of these figures come from Apple hardware.\n\n"
     << "| case | backend | status | worst cosine | worst max\\|Δ\\|/max\\|ref\\| | greedy ids | checks | time (s) |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& row : rows) {
    double cos, rel;
    std::string ids;
    worst(row.r, cos, rel, ids);
    json jr{{"case", row.r.case_name}, {"backend", row.r.backend}, {"status", row.status},
            {"seconds", row.r.seconds}, {"checks", json::array()}};
    if (!row.r.error.empty()) jr["error"] = row.r.error;
    int passed = 0;
    for (const auto& ch : row.r.checks) {
      passed += ch.pass;
      jr["checks"].push_back({{"name", ch.name}, {"pass", ch.pass}, {"min_cosine", ch.min_cosine},
                              {"max_abs", ch.max_abs}, {"max_ref", ch.max_ref}, {"detail", ch.detail}});
    }
    out["results"].push_back(jr);
    md << "| " << row.r.case_name << " | " << row.r.backend << " | " << row.status << " | "
       << (row.r.checks.empty() ? "-" : fmt("%.10f", cos)) << " | " << (row.r.checks.empty() ? "-" : fmt("%.2e", rel))
       << " | " << ids << " | " << passed << "/" << row.r.checks.size() << " | " << fmt("%.1f", row.r.seconds) << " |\n";
  }
  md << "\nPer-backend gates:\n";
  for (const auto& e : backends)
    md << "\n- " << e.name << ": cosine >= " << e.gates.min_cosine << ", max |Δ| <= "
       << (e.gates.max_abs_rel > 0 ? fmt("%g", e.gates.max_abs_rel) + " · max |expected|" : std::string("not gated"))
       << ", greedy ids "
       << (e.gates.min_id_fraction >= 1.0 ? std::string("exact") : "at least " + fmt("%.3f", e.gates.min_id_fraction) + " equal");
  md << "\n";
  for (const auto& row : rows)
    if (!row.r.error.empty()) md << "\n- " << row.r.case_name << " [" << row.r.backend << "]: " << row.r.error;
  md << "\n";
  Status s1 = write_file_atomic(json_path, out.dump(1) + "\n");
  Status s2 = write_file_atomic(md_path, md.str());
  if (!s1.ok() || !s2.ok()) {
    std::cerr << "mill-harness parity: " << (s1.ok() ? s2 : s1).message() << "\n";
    return 2;
  }
  std::cout << rows.size() << " runs, " << failures << " failed; wrote " << json_path << " and " << md_path << "\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace ironmill::harness
