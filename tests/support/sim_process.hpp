#pragma once
// Starts the real batchd-sim on an ephemeral port for a test and stops it
// (SIGTERM) when the test ends. The binary comes from $BATCHD_SIM.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace batchd::testing {

class sim_process {
 public:
  explicit sim_process(std::vector<std::string> args = {}, const std::string& key = "sk-test-key-0123456789") {
    const char* bin = std::getenv("BATCHD_SIM");
    if (!bin) throw std::runtime_error("set BATCHD_SIM to the batchd-sim binary");
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s = {bin, "--port", "0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string key_env = "BATCHD_SIM_API_KEY=" + key;  // the key travels in the environment, not argv
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      // The simulator dies with the test, even when the test crashes.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(out[1], 1);
      close(out[0]);
      putenv(const_cast<char*>(key_env.c_str()));
      execv(bin, argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_ = fdopen(out[0], "r");
    char line[256];
    if (!std::fgets(line, sizeof line, stdout_)) throw std::runtime_error("batchd-sim did not start");
    std::string s(line);
    const auto at = s.find("://");
    if (at == std::string::npos) throw std::runtime_error("unexpected line from batchd-sim: " + s);
    scheme_ = s.substr(s.rfind(' ', at) + 1, at - s.rfind(' ', at) - 1);
    port_ = std::stoi(s.substr(s.rfind(':') + 1));
  }
  ~sim_process() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    if (stdout_) std::fclose(stdout_);
  }
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  int port() const { return port_; }
  std::string base_url(const std::string& host = "127.0.0.1") const {
    return scheme_ + "://" + host + ":" + std::to_string(port_) + "/v1";
  }
  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/admin"; }

 private:
  pid_t pid_ = 0;
  FILE* stdout_ = nullptr;
  int port_ = 0;
  std::string scheme_;
};

}  // namespace batchd::testing
