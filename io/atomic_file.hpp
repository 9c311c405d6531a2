#pragma once
// The one way batchd puts a file in place: written under a temporary name,
// fsynced, renamed, and the directory fsynced, so that a reader (or a
// restart after a power loss) sees the old file or the whole new one,
// never half, and a rename the database already counts on is not undone.
// Every rename of the daemon goes through here (the API client's download
// keeps its own, since openai/ does not depend on jobs/).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>

namespace batchd::io {

class atomic_file {
 public:
  // Creates `<path>.tmp`. Throws std::system_error.
  explicit atomic_file(std::filesystem::path path);
  // Not committed: the temporary file is removed, the target untouched.
  ~atomic_file();
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  void write(std::string_view bytes);
  void line(std::string_view s);  // s and a newline
  // Overwrites bytes already written (a header filled in at the end).
  void write_at(std::uint64_t offset, std::string_view bytes);
  std::int64_t lines() const { return lines_; }
  // fsync, rename into place, fsync the directory. Throws std::system_error.
  void commit();

 private:
  std::filesystem::path path_, temp_;
  std::FILE* file_ = nullptr;
  std::int64_t lines_ = 0;
};

// Writes `content` to `path` atomically (as atomic_file).
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// Moves `from` to `to` without ever losing it: rename, or across file
// systems copy + fsync + rename + unlink; the target's directory is fsynced
// either way. Throws std::filesystem_error or std::system_error.
void move_file(const std::filesystem::path& from, const std::filesystem::path& to);

// Copies `from` to `to` (a new file, fsynced and renamed into place, its
// directory fsynced); `from` is left as it is.
void copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Creates `dir` and its missing parents, fsyncing each parent that gained
// an entry, so the new folders survive a power loss.
void create_directories_durably(const std::filesystem::path& dir);

// fsyncs a directory, so the names created or renamed in it are durable.
void fsync_directory(const std::filesystem::path& dir);

}  // namespace batchd::io
