// The one main() of all Catch2 test executables.
#define CATCH_CONFIG_MAIN
#include <catch.hpp>
