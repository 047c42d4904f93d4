// Loads the reference cases written by tests/render/make_reference.py (format in its docstring).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/render/image.h"
#include "daemon/render/render.h"
#include "imgsink/proto/messages.h"

namespace imgsink::daemon::testing {

struct ReferenceCase {
  std::string name;
  DType dtype = DType::kFloat32;
  Layout layout = Layout::kNCHW;
  std::vector<int64_t> shape;
  RenderOptions options;
  int bit_depth = 8;
  std::vector<uint8_t> input;  // tensor bytes
  std::string error;           // non-empty: torch raised this, the render must refuse
  Image expected;              // valid iff error is empty
};

// Reads folder/cases.json and the files it names.  Returns false and sets *error on any problem.
bool LoadReferenceCases(const std::string& folder, std::vector<ReferenceCase>* out,
                        std::string* error);

// Renders `c` with RenderGrid from a copy of its input placed `misalign` bytes past an aligned
// address.  Returns "" when the render matches (pixels, or refusal with kBadOption for an error
// case), else a description of the first differences.
std::string CheckReferenceCase(const ReferenceCase& c, size_t misalign);

}  // namespace imgsink::daemon::testing
