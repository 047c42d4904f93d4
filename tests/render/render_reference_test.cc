// RenderGrid against pixels produced by torch / torchvision (tests/render/make_reference.py).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <catch.hpp>

#include "reference_cases.h"
#include "render_variants.h"

namespace imgsink::daemon::testing {
namespace {

const std::string kDataDir = std::string(IMGSINK_SOURCE_DIR) + "/tests/render/data";

void CheckAll(const std::vector<ReferenceCase>& cases) {
  ForEachRenderIsa([&] {
    for (const ReferenceCase& c : cases) {
      for (size_t misalign : {0, 1, 3}) {
        INFO("case " << c.name << " (input misaligned by " << misalign << " bytes)");
        CHECK(CheckReferenceCase(c, misalign) == "");
      }
    }
  });
}

TEST_CASE("committed torch reference cases render identically", "[render][reference]") {
  std::vector<ReferenceCase> cases;
  std::string error;
  REQUIRE(LoadReferenceCases(kDataDir, &cases, &error));
  INFO(error);
  REQUIRE(cases.size() >= 90);  // the generator's committed set; guards against an empty folder
  CheckAll(cases);
}

TEST_CASE("every float16/bfloat16 bit pattern through normalize + quantize", "[render][reference]") {
  std::vector<ReferenceCase> cases;
  std::string error;
  REQUIRE(LoadReferenceCases(kDataDir, &cases, &error));
  int tables = 0;
  for (const ReferenceCase& c : cases) {
    if (c.name.find("_all_") == std::string::npos) continue;
    ++tables;
    REQUIRE(c.input.size() == 65536 * 2);
    INFO("table " << c.name);
    ForEachRenderIsa([&] { CHECK(CheckReferenceCase(c, 0) == ""); });
  }
  CHECK(tables == 10);
}

// Runs the generator's --oracle mode (millions of random float32 values, other dtypes) when
// IMGSINK_PYTHON has torch; skipped with a warning otherwise, or when IMGSINK_SKIP_TORCH_ORACLE
// is set.
TEST_CASE("large random cases match live torch", "[render][reference][oracle]") {
  if (std::getenv("IMGSINK_SKIP_TORCH_ORACLE") != nullptr) {
    WARN("IMGSINK_SKIP_TORCH_ORACLE set: live torch comparison skipped");
    return;
  }
  const std::string python = IMGSINK_PYTHON;
  const std::string probe = python + " -c 'import torch, torchvision, numpy, PIL' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    WARN(python << " has no torch/torchvision: live torch comparison skipped");
    return;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "render_oracle_XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  const std::filesystem::path dir = tmpl;
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{dir};
  const std::string cmd = python + " " + IMGSINK_SOURCE_DIR +
                          "/tests/render/make_reference.py --seed 7 --oracle " + dir.string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::vector<ReferenceCase> cases;
  std::string error;
  REQUIRE(LoadReferenceCases(dir.string(), &cases, &error));
  INFO(error);
  REQUIRE(cases.size() >= 9);
  ForEachRenderIsa([&] {
    for (const ReferenceCase& c : cases) {
      INFO("oracle case " << c.name);
      CHECK(CheckReferenceCase(c, 1) == "");
    }
  });
}

}  // namespace
}  // namespace imgsink::daemon::testing
