// Errors are values: Status for "did it work", Result<T> for "a T or why not".
// Nothing in the libraries throws across a boundary or aborts on bad input.
#pragma once
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ironmill {

enum class ErrorCode { kOk = 0, kInvalidArgument, kNotFound, kUnsupported, kParse, kIo, kInternal };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Prefixes context ("while reading 'x.mil': ...") without losing the code.
  Status with_context(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status parse_error(std::string m) { return {ErrorCode::kParse, std::move(m)}; }
inline Status io_error(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status internal_error(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {     // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }
  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ironmill

#define IM_CONCAT_INNER(a, b) a##b
#define IM_CONCAT(a, b) IM_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` fails.
#define IM_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::ironmill::Status _im_st = (expr);          \
    if (!_im_st.ok()) return _im_st;             \
  } while (0)

#define IM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// IM_ASSIGN_OR_RETURN(auto x, make_x());
#define IM_ASSIGN_OR_RETURN(lhs, expr) IM_ASSIGN_OR_RETURN_IMPL(IM_CONCAT(_im_res_, __LINE__), lhs, expr)
