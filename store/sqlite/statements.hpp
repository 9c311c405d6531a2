#pragma once
// What the SQLite store's files share: binding optionals, reading nullable
// text, and resetting a cached statement when its user is done.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string>

#include "store/sqlite/sqlite_database.hpp"

namespace batchd::store::sqlite_detail {

template <class T>
void bind_opt(SQLite::Statement& st, int i, const std::optional<T>& v) {
  if (v)
    st.bind(i, *v);
  else
    st.bind(i);
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

// A row's columns read in the order the query names them, so a reader names
// fields, not indexes: j.id = row.i64(); j.name = row.text(); …
class columns {
 public:
  explicit columns(SQLite::Statement& q) : q_(q) {}
  std::int64_t i64() { return q_.getColumn(next_++).getInt64(); }
  int i32() { return q_.getColumn(next_++).getInt(); }
  double f64() { return q_.getColumn(next_++).getDouble(); }
  bool flag() { return i64() != 0; }
  std::string text() { return q_.getColumn(next_++).getString(); }  // NULL reads as ""
  std::optional<std::string> opt_text() { return sqlite_detail::opt_text(q_.getColumn(next_++)); }
  std::optional<std::int64_t> opt_i64() {
    const auto c = q_.getColumn(next_++);
    return c.isNull() ? std::nullopt : std::optional(c.getInt64());
  }
  std::optional<double> opt_f64() {
    const auto c = q_.getColumn(next_++);
    return c.isNull() ? std::nullopt : std::optional(c.getDouble());
  }

 private:
  SQLite::Statement& q_;
  int next_ = 0;
};

template <class T>
void bind_one(SQLite::Statement& st, int i, const T& v) {
  st.bind(i, v);
}
template <class T>
void bind_one(SQLite::Statement& st, int i, const std::optional<T>& v) {
  bind_opt(st, i, v);
}

}  // namespace batchd::store::sqlite_detail

namespace batchd::store {

template <class... A>
int sqlite_database::execute(const std::string& sql, const A&... args) {
  auto& q = statement(sql);
  const sqlite_detail::statement_reset reset_after{q};
  int i = 0;
  (sqlite_detail::bind_one(q, ++i, args), ...);
  return q.exec();
}

}  // namespace batchd::store
