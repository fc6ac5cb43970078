// A tiny pass manager: a pass rewrites a Program in place and says whether it changed anything.
// The manager re-infers types and verifies after every pass, so a pass may leave output types of
// the ops it creates unset and a broken rewrite is reported with the pass's name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::passes {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Returns true when the program changed.
  virtual Result<bool> run(mil::Program& program) = 0;
};

class PassManager {
 public:
  PassManager& add(std::unique_ptr<Pass> p) {
    passes_.push_back(std::move(p));
    return *this;
  }
  // Runs every pass once, in order; verifies after each. `log` gets "name: changed|unchanged".
  Status run(mil::Program& program, std::vector<std::string>* log = nullptr) const;
  size_t size() const { return passes_.size(); }

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace ironmill::passes
