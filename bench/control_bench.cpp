// control-bench: latency and concurrency of batchd's control socket.
//   control-bench SOCKET JOB_NAME ROUNDS CLIENTS
// Over one keep-alive connection: ROUNDS × GET /v1/jobs/{JOB_NAME} and
// ROUNDS × GET /v1/jobs?limit=50 (p50/p99/max in ms). Then CLIENTS threads,
// each with its own connection, ROUNDS requests each; counts errors.
// Plain POSIX sockets: the client must not be what is measured.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int connect_to(const char* path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a keep-alive connection; returns the status (0: broken).
int get(int fd, const std::string& target, std::string& buf) {
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return 0;
  buf.clear();
  char chunk[65536];
  std::size_t header_end = std::string::npos, length = 0;
  for (;;) {
    if (header_end != std::string::npos && buf.size() >= header_end + 4 + length) break;
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return 0;
    buf.append(chunk, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = buf.find("\r\n\r\n")) != std::string::npos) {
      auto cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > header_end) cl = buf.find("content-length: ");
      length = cl < header_end ? std::stoul(buf.substr(cl + 16)) : 0;
    }
  }
  return std::stoi(buf.substr(9, 3));
}

void report(const char* what, std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1))]; };
  std::printf("%-28s n=%zu  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, ms.size(), at(0.5), at(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: control-bench SOCKET JOB_NAME ROUNDS CLIENTS\n");
    return 2;
  }
  const char* sock = argv[1];
  const std::string job = argv[2];
  const int rounds = std::stoi(argv[3]), clients = std::stoi(argv[4]);
  std::string buf;
  for (const auto& [label, target] : {std::pair<const char*, std::string>{"GET /v1/jobs/{job}", "/v1/jobs/" + job},
                                      {"GET /v1/jobs?limit=50", "/v1/jobs?limit=50"}}) {
    const int fd = connect_to(sock);
    if (fd < 0) return 1;
    std::vector<double> ms;
    for (int i = 0; i < rounds; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (get(fd, target, buf) != 200) {
        std::fprintf(stderr, "%s: failed\n", label);
        return 1;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    ::close(fd);
    report(label, ms);
  }
  std::atomic<int> errors{0}, ok{0};
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      std::string b;
      const int fd = connect_to(sock);
      if (fd < 0) {
        errors += rounds;
        return;
      }
      for (int i = 0; i < rounds; ++i) {
        const auto status = get(fd, i % 2 ? "/v1/jobs?limit=50" : "/v1/jobs/" + job, b);
        (status == 200 ? ok : errors)++;
      }
      ::close(fd);
      (void)c;
    });
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d concurrent clients: %d ok, %d errors, %.0f requests/s\n", clients, ok.load(), errors.load(),
              ok.load() / s);
  return errors.load() == 0 ? 0 : 1;
}
