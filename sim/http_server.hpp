#pragma once
// The wire: an HTTP/1.1 server (plain or TLS) on one thread that hands each
// request to the api and writes its answer, applying the transport faults.
// The only file of the simulator that includes Beast.
#include <cstdint>
#include <functional>
#include <string>

namespace batchd::sim {

class api;

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port
  std::string tls_cert;    // PEM; both set = HTTPS
  std::string tls_key;
};

// Serves until SIGINT or SIGTERM. `on_ready` gets the bound port once the
// server accepts connections. Throws if it cannot listen.
void run_server(api& service, const server_options& options,
                const std::function<void(std::uint16_t port, bool tls)>& on_ready);

}  // namespace batchd::sim
