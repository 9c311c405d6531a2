#pragma once
// From intake on, nobody else can change batchd's copy of a dropped file.
// A file with one name is moved into the job's folder: only batchd knows
// the new name. A file with more names (a hard link) is copied, since its
// other names reach the same bytes. A file some process still has open for
// writing is not taken yet: it is waited for, and taken when its writer
// closes it (inotify says so) or at a later rescan.
#include <filesystem>
#include <sys/stat.h>

namespace batchd::io {

// Whether a process this one may look at (all of them as root; the
// service's own under systemd's ProtectProc=invisible) has the file of `st`
// open for writing.
bool open_for_writing(const struct stat& st);

// Takes `from` (from inbox/) to `to` so that no other name reaches it;
// `st` is `from`'s lstat. Returns false, with `from` left in place, if the
// file changed while it was being copied (try again later). Throws
// std::system_error / std::filesystem_error on I/O.
bool take_private(const std::filesystem::path& from, const std::filesystem::path& to, const struct stat& st);

}  // namespace batchd::io
