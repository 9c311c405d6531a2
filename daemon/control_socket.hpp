#pragma once
// The control socket's listening end and who is on the other side. Plain
// POSIX, no Asio: the server adopts the descriptor this returns.
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace batchd::daemon {

struct control_socket_options {
  std::filesystem::path path = "/run/batchd/batchd.sock";
  std::string group;  // owner group of the socket file, and who may change things; empty: none
  mode_t mode = 0660;
};

// A listening unix stream socket: the one systemd passed (socket activation,
// LISTEN_FDS) when present, else one bound at `path`. A socket file left by a
// crashed daemon is replaced; one a live daemon answers on is not touched,
// nor is a path that is not a socket. Throws std::runtime_error saying why.
int open_control_socket(const control_socket_options& opt, bool& from_systemd);

struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups, as the kernel tells (SO_PEERGROUPS)
};

// SO_PEERCRED and SO_PEERGROUPS of a connected unix socket: two syscalls, no
// user or group database look-up (NSS), so it is safe on the event loop.
// Under systemd's PrivateUsers=yes a peer's uid reads as nobody, but its
// groups still list the service's group for a member.
std::optional<peer_credentials> peer_of(int fd);

// The group's id (an NSS look-up: call it once, at start).
std::optional<gid_t> group_id(const std::string& group);

// Who may use the mutating routes: root, the daemon's own user, and members
// (primary or supplementary) of the group `group_gid`.
bool may_change(const peer_credentials& peer, std::optional<gid_t> group_gid);

}  // namespace batchd::daemon
