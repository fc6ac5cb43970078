#include "backends/coreml/llm/coreml_language_model.h"

#include <stdlib.h>

#include <filesystem>

#include "backends/coreml/coreml_backend.h"
#include "formats/coreml/mlpackage.h"
#include "frontends/templates/runner.h"
#include "mil/verifier.h"

namespace ironmill::backends::coreml {
namespace fs = std::filesystem;
namespace fc = formats::coreml;

namespace {

// Removes a temporary directory when the scope ends (also on errors).
struct TempDir {
  std::string path;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

Result<std::string> make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "ironmill-coreml-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return io_error(pattern + ": cannot create a temporary directory");
  return pattern;
}

class PackageBackend final : public Backend {
 public:
  explicit PackageBackend(Precision p) : precision_(p) {}
  std::string name() const override { return "coreml-" + precision_name(precision_); }
  SupportVerdict supports(const mil::Operation& op, int opset) const override { return runner_.supports(op, opset); }

  Result<std::unique_ptr<Executable>> compile(const mil::Program& program, const CompileOptions& options) override {
    if (!program.function(options.function)) return not_found("function `" + options.function + "` not in program");
    mil::Program p = program;
    IM_RETURN_IF_ERROR(apply_precision(p, precision_));
    fc::WriteOptions wo;
    wo.blob_source = options.blob_resolver;
    if (p.functions.size() > 1) wo.info.default_function = options.function;
    IM_ASSIGN_OR_RETURN(fc::SerializedModel s, fc::serialize_model(p, wo));
    TempDir dir;
    IM_ASSIGN_OR_RETURN(dir.path, make_temp_dir());
    const std::string package = (fs::path(dir.path) / "model.mlpackage").string();
    IM_RETURN_IF_ERROR(fc::write_package(package, {std::move(s.model_bytes), std::move(s.weights)}));
    return load_package(package, options.function);
  }

 private:
  Precision precision_;
  CoreMLBackend runner_;
};

}  // namespace

std::unique_ptr<Backend> make_package_backend(Precision precision) { return std::make_unique<PackageBackend>(precision); }

void register_coreml_language_models() {
  for (Precision p : {Precision::kFp32, Precision::kFp16})
    templates::register_language_model(
        "coreml-" + precision_name(p),
        [p](const std::string& model_path) -> Result<std::unique_ptr<templates::LanguageModel>> {
          IM_ASSIGN_OR_RETURN(templates::LoadedModel m, templates::load_model(model_path));
          return std::unique_ptr<templates::LanguageModel>(
              std::make_unique<templates::LlmRunner>(std::move(m), make_package_backend(p)));
        });
}

}  // namespace ironmill::backends::coreml
