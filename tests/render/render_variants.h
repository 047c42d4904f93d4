// Runs test code under each render variant (daemon/render/render_isa.h) this CPU runs.
#pragma once

#include <catch.hpp>

#include "daemon/render/render_isa.h"

namespace imgsink::daemon::testing {

// Calls check() once per variant, with that variant active and named in the failure messages;
// restores the default afterwards.  A variant the CPU cannot run is reported and skipped.
template <class Check>
void ForEachRenderIsa(const Check& check) {
  for (RenderIsa isa : {RenderIsa::kBaseline, RenderIsa::kAvx2}) {
    const char* name = isa == RenderIsa::kAvx2 ? "avx2" : "baseline";
    if (!SetRenderIsa(isa)) {
      WARN("this CPU cannot run the " << name << " render variant: not tested");
      continue;
    }
    INFO("render variant " << name);
    check();
  }
  REQUIRE(SetRenderIsa(SupportedRenderIsa()));
}

}  // namespace imgsink::daemon::testing
