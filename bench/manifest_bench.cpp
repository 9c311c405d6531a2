// Times a manifest's assembly the way the daemon does it: the inputs become
// request lines, cut into chunks and hashed as they are written
// (jobs::assemble_manifest). For comparison it then also times reading them
// back the way a dropped file is read (jobs::split_request_file), which the
// daemon skips for lines it wrote itself.
// Usage: manifest-bench MANIFEST.job.json INPUTS OUT_DIR
#include <chrono>
#include <cstdio>

#include "jobfiles/manifest.hpp"
#include "jobfiles/manifest_assembly.hpp"
#include "jobfiles/request_file.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: manifest-bench MANIFEST.job.json INPUTS OUT_DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  std::vector<batchd::jobfiles::manifest_problem> problems;
  const auto m = batchd::jobfiles::load_manifest(argv[1], "bench", problems);
  if (!m) {
    std::fprintf(stderr, "manifest: %s\n", problems.front().message.c_str());
    return 1;
  }
  const fs::path out = argv[3];
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = batchd::jobfiles::assemble_manifest(*m, argv[2], out / "requests.jsonl", out / "ids.txt", {}, {});
  const auto t1 = std::chrono::steady_clock::now();
  const auto split = batchd::jobfiles::split_request_file(out / "requests.jsonl", {});
  const auto t2 = std::chrono::steady_clock::now();
  const std::chrono::duration<double> assemble = t1 - t0, cut = t2 - t1;
  bool same = split.chunks.size() == r.chunks.size();
  for (std::size_t i = 0; same && i < r.chunks.size(); ++i)
    same = r.chunks[i].offset == split.chunks[i].offset && r.chunks[i].sha256 == split.chunks[i].sha256;
  std::printf("%lld inputs -> %lld requests in %zu chunks (%zu problems; chunks %s split_request_file's): "
              "total %.3f s (a dropped file's validate+cut+hash of the same: %.3f s)\n",
              static_cast<long long>(r.inputs), static_cast<long long>(r.requests), r.chunks.size(),
              r.problems.size() + split.errors.size(), same ? "equal to" : "DIFFERENT FROM", assemble.count(), cut.count());
  return r.problems.empty() && split.errors.empty() ? 0 : 1;
}
