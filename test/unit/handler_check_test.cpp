// The handler checks `processor validate` and the start share, against real
// files, a real python3 and real shared libraries: a handler that cannot be
// found or compiled is a ConfigError at spec.handler; one that may fail
// only when it runs is not.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "app/kinds.hpp"
#include "config/config_loader.hpp"
#include "config/config_error.hpp"
#include "runtime/python/python_handler_check.hpp"
#include "runtime/python/python_settings.hpp"

using namespace edgefn;
namespace fs = std::filesystem;

namespace {

const fs::path kTestHandler = EDGEFN_TEST_HANDLER_PATH;

struct FunctionDir {
  FunctionDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("edgefn-check-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~FunctionDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name) << text;
  }
  // function.yaml with spec.handler on line 4, its value at column 12.
  fs::path function(const std::string& runtime, const std::string& handler, const std::string& extra = "") const {
    write("function.yaml", "metadata:\n  name: checked\nspec:\n  handler: " + handler + "\n  runtime: " + runtime +
                               "\n" + extra);
    return path / "function.yaml";
  }
  fs::path path;
};

std::string load_error(const fs::path& file) {
  try {
    load_function_config(file, kind_catalog());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

std::string python_error(const FunctionDir& dir, const std::string& handler) {
  FunctionConfig config;
  config.runtime = "python";
  config.handler = handler;
  try {
    check_python_handler(config, dir.path);
  } catch (const HandlerError& e) {
    return e.what();
  }
  return "(no HandlerError)";
}

std::vector<ConfigNotice> python_notices(const FunctionDir& dir, const std::string& handler) {
  FunctionConfig config;
  config.runtime = "python";
  config.handler = handler;
  return check_python_handler(config, dir.path);
}

}  // namespace

TEST_CASE("a native handler that cannot be loaded is a config error at spec.handler") {
  FunctionDir dir;
  const std::string at = (dir.path / "function.yaml").string() + ":4:12: spec.handler: ";
  CHECK(load_error(dir.function("native", "builtin:hola")) ==
        at + "no such builtin 'hola' (builtins: echo, hello, sleep)");
  CHECK(load_error(dir.function("native", "libgreet.so")) ==
        at + "'libgreet.so' is not a native handler: write 'libname.so:symbol' or 'builtin:name'");
  CHECK_THAT(load_error(dir.function("native", "libnothere.so:greet")),
             Catch::StartsWith(at + "native handler library " + (dir.path / "libnothere.so").string() + " not found"));
  CHECK(load_error(dir.function("native", kTestHandler.string() + ":no_such_symbol")) ==
        at + kTestHandler.string() + " has no exported symbol 'no_such_symbol'");
  dir.write("libjunk.so", "not a library\n");
  CHECK_THAT(load_error(dir.function("native", "libjunk.so:greet")),
             Catch::StartsWith(at + "cannot load native handler library"));
  CHECK_NOTHROW(load_function_config(dir.function("native", kTestHandler.string() + ":describe"), kind_catalog()));
  CHECK_NOTHROW(load_function_config(dir.function("native", "builtin:echo"), kind_catalog()));
}

TEST_CASE("a shell handler that cannot be found is a config error at spec.handler") {
  FunctionDir dir;
  const std::string at = (dir.path / "function.yaml").string() + ":4:12: spec.handler: ";
  CHECK_THAT(load_error(dir.function("shell", "missing.sh")), Catch::StartsWith(at + "no file 'missing.sh'"));
  dir.write("odd.sh", "#!/nonexistent/interpreter\n");
  CHECK_THAT(load_error(dir.function("shell", "odd.sh")),
             Catch::StartsWith(at + "shell handler ") && Catch::Contains("which is not an executable file"));
  dir.write("report.sh", "echo hi\n");
  CHECK_NOTHROW(load_function_config(dir.function("shell", "report.sh"), kind_catalog()));
}

TEST_CASE("a Python handler must be module:function, and its module must be there") {
  FunctionDir dir;
  CHECK(python_error(dir, "main") == "'main' is not a Python handler: write 'module:function', e.g. 'main:handler'");
  dir.write("main.py", "def handler(context, event):\n    return 1\n");
  CHECK(python_error(dir, "main.py:handler") == "module 'main.py' not found in " + dir.path.string() +
                                                    ": name the module, not its file ('main:handler')");
  CHECK(python_error(dir, "my-module:handler") == "'my-module' is not a Python module name");
  CHECK_THAT(python_error(dir, "nothere:handler"), Catch::StartsWith("module 'nothere' not found in "));
}

TEST_CASE("a Python handler's source must parse and define the function at its top level") {
  FunctionDir dir;
  dir.write("main.py", "import os\n\ndef handler(context, event):\n    return 'hi'\n");
  CHECK(python_notices(dir, "main:handler").empty());
  CHECK(python_error(dir, "main:missing") ==
        "module 'main' (" + (dir.path / "main.py").string() + ") has no function 'missing' at its top level");

  dir.write("broken.py", "def handler(context, event):\n    return (1,\n\nx = 2\n");
  CHECK_THAT(python_error(dir, "broken:handler"),
             Catch::StartsWith((dir.path / "broken.py").string() + ":2:12: SyntaxError: "));

  dir.write("pkg/__init__.py", "");
  dir.write("pkg/mod.py", "async def handler(context, event):\n    return 1\n");
  CHECK(python_notices(dir, "pkg.mod:handler").empty());
  dir.write("pkg2/__init__.py", "from .impl import handler\n");
  CHECK(python_notices(dir, "pkg2:handler").empty());
}

TEST_CASE("definitions the check cannot see are taken on trust, and the module never runs") {
  FunctionDir dir;
  const std::string marker = (dir.path / "ran").string();
  // Each would create the marker, or fail, if the check ran it.
  dir.write("alternatives.py", "open('" + marker + "', 'w')\ntry:\n    from fast import handler\nexcept ImportError:\n"
                               "    def handler(context, event):\n        return 1\n");
  dir.write("lambdas.py", "import no_such_module_anywhere\nhandler = lambda context, event: 1\n");
  dir.write("star.py", "from no_such_module_anywhere import *\n");
  dir.write("dynamic.py", "globals()['handler'] = print\n");
  CHECK(python_notices(dir, "alternatives:handler").empty());
  CHECK(python_notices(dir, "lambdas:handler").empty());
  auto star = python_notices(dir, "star:handler");
  REQUIRE(star.size() == 1);
  CHECK(star[0].level == ConfigNotice::Level::kInfo);
  CHECK_THAT(star[0].message, Catch::Contains("imports * from no_such_module_anywhere"));
  CHECK(python_notices(dir, "dynamic:handler").size() == 1);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("functionSourceCode is checked instead of a file") {
  FunctionDir dir;
  FunctionConfig config;
  config.runtime = "python";
  config.handler = "inline:handler";
  config.function_source_code = "def handler(context, event):\n    return 1\n";
  CHECK(check_python_handler(config, dir.path).empty());
  config.function_source_code = "def handler(context, event)\n    return 1\n";
  CHECK_THROWS_WITH(check_python_handler(config, dir.path),
                    Catch::StartsWith("spec.build.functionSourceCode:1:") && Catch::Contains("SyntaxError"));
}

TEST_CASE("a source too large to parse within the check's memory is a warning, not an error") {
  FunctionDir dir;
  std::string source = "def handler(context, event):\n    return 1\n";
  for (int i = 0; i < 300'000; ++i) source += "x = 1\n";
  dir.write("huge.py", source);
  auto notices = python_notices(dir, "huge:handler");
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].level == ConfigNotice::Level::kWarning);
  // Past 128 MiB, or past the time limit on a slow machine.
  CHECK_THAT(notices[0].message, Catch::Contains("was not checked") &&
                                     (Catch::Contains("more than 128 MiB") || Catch::Contains("took longer than")));
}

TEST_CASE("a Python check that cannot run here warns instead of failing") {
  FunctionDir dir;
  dir.write("main.py", "def handler(context, event):\n    return 1\n");
  FunctionConfig config;
  config.runtime = "python";
  config.handler = "main:handler";
  config.env = {{"NUCLIO_PYTHON_EXE_PATH", "/nonexistent/python3"}};
  auto notices = check_python_handler(config, dir.path);
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].level == ConfigNotice::Level::kWarning);
  CHECK_THAT(notices[0].message, Catch::Contains("was not checked") && Catch::Contains("NUCLIO_PYTHON_EXE_PATH"));
}

TEST_CASE("an environment made by processor build is the interpreter a Python function runs") {
  FunctionDir dir;
  FunctionConfig config;
  config.runtime = "python";
  config.handler = "main:handler";
  config.directory = dir.path;
  const Environment environment = {{"NUCLIO_PYTHON_EXE_PATH", "/nonexistent/python3"}, {"PATH", "/usr/bin:/bin"}};
  // No environment yet: NUCLIO_PYTHON_EXE_PATH is taken, and refused.
  CHECK_THROWS_AS(choose_python_interpreter(config, environment, "/usr/bin:/bin"), StartError);
  dir.write(".edgefn/venv/bin/python", "#!/bin/sh\n");
  fs::permissions(dir.path / ".edgefn/venv/bin/python", fs::perms::owner_exec, fs::perm_options::add);
  const auto chosen = choose_python_interpreter(config, environment, "/usr/bin:/bin");
  CHECK(chosen.built);
  CHECK(chosen.path == (dir.path / ".edgefn/venv/bin/python").string());
  // `processor build` itself looks past it, for the interpreter to make it with.
  CHECK_THROWS_AS(choose_python_interpreter(config, environment, "/usr/bin:/bin", false), StartError);
}

TEST_CASE("a Python version that is not installed falls back to python3 and says so") {
  FunctionConfig config;
  config.runtime = "python:3.99";
  config.handler = "main:handler";
  config.directory = fs::temp_directory_path();
  const auto chosen = choose_python_interpreter(config, {}, "/usr/bin:/bin");
  CHECK(chosen.path == "/usr/bin/python3");
  CHECK_THAT(chosen.fallback, Catch::Contains("python3.99 not found on PATH; running /usr/bin/python3") &&
                                  Catch::Contains("instead"));
  config.runtime = "python";
  CHECK(choose_python_interpreter(config, {}, "/usr/bin:/bin").fallback.empty());
}

TEST_CASE("an interpreter that cannot start is told apart from one that runs") {
  FunctionDir dir;
  dir.write("gone", "#!/bin/sh\nexec /nonexistent/python3 \"$@\"\n");
  fs::permissions(dir.path / "gone", fs::perms::owner_exec, fs::perm_options::add);
  auto broken = probe_python_interpreter((dir.path / "gone").string(), "/usr/bin:/bin");
  REQUIRE_FALSE(broken);
  CHECK_THAT(broken.error(), Catch::Contains("exit status 127"));
  auto missing = probe_python_interpreter("/nonexistent/python3", "/usr/bin:/bin");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("/nonexistent/python3"));
  auto works = probe_python_interpreter("/usr/bin/python3", "/usr/bin:/bin");
  REQUIRE(works);
  CHECK(works->rfind("3.", 0) == 0);
}

TEST_CASE("a missing module in a worker's start error gets the way to install it") {
  PythonSettings settings;
  settings.handler = "main:handler";
  settings.missing_module_hint = "run processor build";
  const std::string traceback =
      "Traceback (most recent call last):\n  File \"main.py\", line 1\nModuleNotFoundError: No module named 'simplejson'\n";
  CHECK(missing_module_advice(traceback, settings) == "module 'simplejson' is missing: run processor build");
  // The handler's own module missing is not a dependency to install.
  CHECK(missing_module_advice("ModuleNotFoundError: No module named 'main'\n", settings).empty());
  CHECK(missing_module_advice("ValueError: bad\n", settings).empty());
}
