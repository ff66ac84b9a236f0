// function.yaml, as `processor validate` reads it: the bytes go to a file
// and through load_function_config() with this build's kind catalog (every
// trigger kind's and runtime's own checks included).
//
// What must hold for any input: the loader returns, or throws ConfigError
// whose message starts with the file name (main() prints it and exits 2).
// Any other exception escaping is a finding: main() would report a bad
// config as a failed start (exit 1), or not at all.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/kinds.hpp"
#include "config/config_error.hpp"
#include "config/config_loader.hpp"

namespace {

std::filesystem::path config_file;
edgefn::KindCatalog catalog;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // In memory where there is a tmpfs: a disk's stalls under a busy
  // neighbour's build would otherwise read as inputs over -timeout.
  std::string pattern = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  pattern += "/edgefn-fuzz-config-XXXXXX";
  if (!mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  config_file = std::filesystem::path(pattern) / "function.yaml";
  catalog = edgefn::kind_catalog();
  // An env entry's valueFrom: {envVar: EDGEFN_FUZZ_SET} reads a value;
  // EDGEFN_FUZZ_UNSET is an error.
  setenv("EDGEFN_FUZZ_SET", "from-the-environment", 1);
  unsetenv("EDGEFN_FUZZ_UNSET");
  // The directory goes when the process does (libFuzzer's -runs and
  // -max_total_time end with exit()); a crash leaves it for inspection.
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(config_file.parent_path(), ignored);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::FILE* f = std::fopen(config_file.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
      std::perror("writing the config");
      std::abort();
    }
  }
  try {
    auto loaded = edgefn::load_function_config(config_file, catalog);
    (void)loaded;
  } catch (const edgefn::ConfigError& e) {
    const std::string message = e.what();
    if (message.rfind(config_file.string(), 0) != 0) {
      std::fprintf(stderr, "ConfigError without the file name: %s\n", message.c_str());
      std::abort();
    }
  }
  return 0;
}
