// batchd-sim: a local stand-in for the OpenAI Files and Batches APIs, for
// tests, the demo and benchmarks. See README.md ("batchd-sim").
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "sim/api.hpp"
#include "sim/http_server.hpp"

namespace {

// A data directory made for this run and removed when it ends.
struct scratch_dir {
  std::filesystem::path path;
  bool owned = false;
  ~scratch_dir() {
    std::error_code ec;
    if (owned) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace batchd::sim;
  CLI::App app{"batchd-sim: a local server that behaves like the OpenAI Files and Batches APIs"};
  sim_options opt;
  server_options srv;
  std::string data_dir, port_file, faults_json;
  const char* env_key = std::getenv("BATCHD_SIM_API_KEY");
  opt.api_key = env_key ? env_key : "sk-batchd-sim";

  app.add_option("--host", srv.host, "address to listen on (loopback)")->capture_default_str();
  app.add_option("--port", srv.port, "port; 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port to this file once listening");
  app.add_option("--data-dir", data_dir, "where file contents live (default: a temporary folder removed at exit)");
  app.add_option("--api-key", opt.api_key, "the only Bearer key accepted (env BATCHD_SIM_API_KEY)");
  app.add_option("--time-scale", opt.time_scale, "simulated seconds per real second")->capture_default_str();
  app.add_option("--seed", opt.seed, "seed for ids and every injected fault")->capture_default_str();
  app.add_option("--tls-cert", srv.tls_cert, "PEM certificate chain: serve HTTPS");
  app.add_option("--tls-key", srv.tls_key, "PEM private key for --tls-cert");
  auto& t = opt.timing;
  app.add_option("--validating-s", t.validating_s, "simulated seconds in validating")->capture_default_str();
  app.add_option("--in-progress-s", t.in_progress_base_s, "simulated seconds in_progress, plus per request")->capture_default_str();
  app.add_option("--per-request-s", t.per_request_s, "simulated seconds per request while in_progress")->capture_default_str();
  app.add_option("--finalizing-s", t.finalizing_s, "simulated seconds in finalizing")->capture_default_str();
  app.add_option("--cancelling-s", t.cancelling_s, "simulated seconds in cancelling")->capture_default_str();
  app.add_option("--faults", faults_json,
                 "initial faults as JSON, same keys as POST /admin/faults, e.g. "
                 "'{\"rate_429\":0.1,\"expire_next\":1}'");
  CLI11_PARSE(app, argc, argv);

  if (!faults_json.empty()) {
    try {
      merge_faults(opt.faults, nlohmann::json::parse(faults_json));
    } catch (const std::exception& e) {
      std::cerr << "batchd-sim: --faults: " << e.what() << "\n";
      return 2;
    }
  }
  if (srv.tls_cert.empty() != srv.tls_key.empty()) {
    std::cerr << "batchd-sim: --tls-cert and --tls-key go together\n";
    return 2;
  }
  scratch_dir scratch;
  if (data_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "batchd-sim-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("batchd-sim: mkdtemp");
      return 1;
    }
    scratch = {tmpl, true};
    opt.data_dir = tmpl;
  } else {
    opt.data_dir = data_dir;
  }

  try {
    api service(opt);
    run_server(service, srv, [&](std::uint16_t port, bool tls) {
      if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
      std::cout << "batchd-sim listening on " << (tls ? "https" : "http") << "://" << srv.host
                << ":" << port << std::endl;
    });
  } catch (const std::exception& e) {
    std::cerr << "batchd-sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
