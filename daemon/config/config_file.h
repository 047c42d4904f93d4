// ConfigFile: reads imgsinkd's TOML configuration (deploy/imgsinkd.toml.example) with toml++.
//
// Every key is a long command-line option with '-' written as '_' (output_root =
// --output-root).  The file is turned into command-line arguments, so the command-line parser
// stays the one place that knows each option's type, range and default, and precedence is
// simply flags > file > defaults.
// Thread-safety: pure functions.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Appends to *args the "--name", "value" arguments the file at `path` stands for, skipping options
// in `given` (long names without "--", already on the command line).  Arrays become one
// argument per element, booleans "on"/"off".  Returns kBadOption naming the file, line and key
// for a syntax error, an unknown key (not in `known`), a table, or a value of another type.
Status ConfigFileArgs(const std::string& path, const std::set<std::string>& known,
                      const std::set<std::string>& given, std::vector<std::string>* args);

}  // namespace imgsink::daemon
