// Golden parity / perplexity on Core ML packages: the language-model backends "coreml-fp32" and
// "coreml-fp16". Each static shape the runner needs (prefill length, cache length) is compiled from the
// template to a package in a temporary directory, READ BACK from disk (frontends/coreml) and run on the
// Linux Core ML runner (backends/coreml), so every figure exercises write -> read -> run. Emulated: no
// Core ML runtime or Apple hardware is involved.
#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"
#include "backends/coreml/llm/llm_package.h"

namespace ironmill::backends::coreml {

// A backend whose compile() applies `precision`, writes the program as an .mlpackage under a fresh
// temporary directory, loads that package from disk and removes the directory (the loaded weights stay
// mapped). name(): "coreml-fp32" / "coreml-fp16".
std::unique_ptr<Backend> make_package_backend(Precision precision);

// Registers "coreml-fp32" and "coreml-fp16" with templates::register_language_model (called explicitly
// by the harness; no static initializers).
void register_coreml_language_models();

}  // namespace ironmill::backends::coreml
