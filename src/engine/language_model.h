// The engine as a templates::LanguageModel, so golden parity (mill-harness parity --golden) and
// perplexity (mill-harness perplexity --backend engine) drive it like any backend.
#pragma once
#include <memory>
#include <string>

#include "engine/engine.h"
#include "frontends/templates/runner.h"

namespace ironmill::engine {

Result<std::unique_ptr<templates::LanguageModel>> open_engine_language_model(const std::string& model_path,
                                                                             const EngineOptions& options = {});
// Registers backend name "engine" with templates::register_language_model (called from main()s).
void register_engine_language_model();

}  // namespace ironmill::engine
