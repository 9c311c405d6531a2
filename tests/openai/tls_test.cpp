// HTTPS against batchd-sim with a certificate from a throwaway CA made with
// the openssl CLI: trusted only when that CA is configured, and only for the
// name the certificate carries.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "openai/client.hpp"
#include "openai/error.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/sim_process.hpp"

namespace batchd::openai {
namespace {

namespace fs = std::filesystem;
using batchd::testing::run_coro;
using batchd::testing::sim_process;

// A CA, and a server certificate it signs for `san` (e.g. "IP:127.0.0.1,DNS:localhost").
void make_certificates(const fs::path& dir, const std::string& san) {
  fs::create_directories(dir);
  std::ofstream(dir / "ext.cnf") << "subjectAltName=" << san << "\n";
  const std::string d = dir.string();
  const std::string script =
      "set -e; cd '" + d + "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=batchd-test-ca 2>/dev/null; "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=batchd-sim 2>/dev/null; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile ext.cnf 2>/dev/null";
  ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0);
}

bool can_list(const std::string& base, const fs::path& ca, std::string* error = nullptr) {
  client_config c;
  c.base_url = base;
  c.api_key = "sk-test-key-0123456789";
  c.ca_file = ca;
  c.retry.max_retries = 0;
  try {
    run_coro([&](boost::asio::any_io_executor ex) -> boost::asio::awaitable<int> {
      client cl(ex, c);
      co_await cl.list_files(std::nullopt);
      co_return 0;
    });
    return true;
  } catch (const api_error& e) {
    if (error) *error = e.what();
    return false;
  }
}

class tls : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("batchd-tls-test-" + std::to_string(::getpid()));
  void TearDown() override { fs::remove_all(dir); }
};

TEST_F(tls, trusted_only_with_the_configured_ca) {
  make_certificates(dir, "IP:127.0.0.1,DNS:localhost");
  sim_process sim({"--tls-cert", (dir / "server.pem").string(), "--tls-key", (dir / "server.key").string()});
  EXPECT_TRUE(can_list(sim.base_url("127.0.0.1"), dir / "ca.pem"));
  EXPECT_TRUE(can_list(sim.base_url("localhost"), dir / "ca.pem"));
  std::string why;
  EXPECT_FALSE(can_list(sim.base_url("127.0.0.1"), {}, &why)) << "the system store does not know our CA";
  EXPECT_NE(why.find("TLS"), std::string::npos) << why;
}

TEST_F(tls, rejected_when_the_name_does_not_match) {
  make_certificates(dir, "DNS:other.example");
  sim_process sim({"--tls-cert", (dir / "server.pem").string(), "--tls-key", (dir / "server.key").string()});
  std::string why;
  EXPECT_FALSE(can_list(sim.base_url("127.0.0.1"), dir / "ca.pem", &why));
  EXPECT_FALSE(can_list(sim.base_url("localhost"), dir / "ca.pem"));
}

}  // namespace
}  // namespace batchd::openai
