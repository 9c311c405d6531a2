#pragma once
// A streaming multipart/form-data parser (RFC 7578): bytes go in as they come
// off the socket, part bodies come out in pieces, so a 200 MB file part never
// sits in memory. Only the unmatched tail of a possible boundary is held.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace batchd::sim {

struct multipart_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct part_info {
  std::string name;                     // Content-Disposition name=
  std::optional<std::string> filename;  // Content-Disposition filename=
  std::string content_type;
};

class part_handler {
 public:
  virtual ~part_handler() = default;
  virtual void begin_part(const part_info& part) = 0;
  virtual void part_data(std::string_view bytes) = 0;
  virtual void end_part() = 0;
};

// The boundary parameter of a multipart/form-data Content-Type, if any.
std::optional<std::string> multipart_boundary(std::string_view content_type);

class multipart_parser {
 public:
  multipart_parser(std::string_view boundary, part_handler& handler);

  // Feeds the next bytes of the body. Throws multipart_error on bad framing.
  void feed(std::string_view bytes);
  // Ends the body: throws multipart_error unless the closing boundary came.
  void finish();

 private:
  enum class state { preamble, after_boundary, headers, body, done };
  void run();
  void emit_body_up_to(std::size_t n);

  std::string delimiter_;  // "\r\n--" + boundary
  part_handler& handler_;
  std::string pending_;
  std::size_t scan_from_ = 0;
  state state_ = state::preamble;
};

}  // namespace batchd::sim
