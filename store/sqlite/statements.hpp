#pragma once
// What the SQLite store's files share: binding optionals, reading nullable
// text, and resetting a cached statement when its user is done.
#include <SQLiteCpp/SQLiteCpp.h>

#include <optional>
#include <string>

namespace batchd::store::sqlite_detail {

template <class T>
void bind_opt(SQLite::Statement& st, int i, const std::optional<T>& v) {
  if (v) st.bind(i, *v);
  else st.bind(i);
}

inline std::optional<std::string> opt_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

// Resets a cached statement when the function using it returns, so no
// half-read SELECT keeps a read transaction open.
struct statement_reset {
  SQLite::Statement& q;
  ~statement_reset() { q.tryReset(); }
};

}  // namespace batchd::store::sqlite_detail
