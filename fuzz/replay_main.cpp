// fuzz/replay_main.cpp: main() for a fuzz target built without libFuzzer (make test, make
// tsan, any compiler): runs each input once through the target's LLVMFuzzerTestOneInput(), so
// the committed corpus and every crash ever found are checked on every build, clang or not.
//
// Usage: TARGET_replay PATH...   each PATH a file or a directory of inputs (every regular file
// in it, in name order; names starting with "." are skipped). A PATH that does not exist is an
// error, so a moved corpus fails the test instead of passing it with nothing run.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz.hpp"

namespace {

namespace fs = std::filesystem;

// Appends the inputs `path` names to `out`; false when it does not exist.
bool collect(const fs::path& path, std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    out.push_back(path);
    return true;
  }
  if (!fs::is_directory(path, ec)) return false;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (entry.is_regular_file() && !entry.path().filename().string().starts_with(".")) {
      found.push_back(entry.path());
    }
  }
  std::ranges::sort(found);
  out.insert(out.end(), found.begin(), found.end());
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!collect(argv[i], inputs)) {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  for (const auto& path : inputs) {
    std::ifstream file(path, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (!file.good() && !file.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 2;
    }
    // A failed property aborts inside the call; name the input first, so the log says which.
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, every property held\n", inputs.size());
  return inputs.empty() ? 2 : 0;
}
