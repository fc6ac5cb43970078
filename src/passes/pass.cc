#include "passes/pass.h"

#include "mil/verifier.h"

namespace ironmill::passes {

Status PassManager::run(mil::Program& program, std::vector<std::string>* log) const {
  IM_RETURN_IF_ERROR(mil::infer_and_verify(program).with_context("before the first pass"));
  for (const auto& p : passes_) {
    auto changed = p->run(program);
    if (!changed.ok()) return changed.status().with_context("pass " + p->name());
    IM_RETURN_IF_ERROR(mil::infer_and_verify(program).with_context("after pass " + p->name()));
    if (log) log->push_back(p->name() + (*changed ? ": changed" : ": unchanged"));
  }
  return Status::Ok();
}

}  // namespace ironmill::passes
