#include "daemon/config/config_file.h"

#include <algorithm>
#include <sstream>

#include <toml++/toml.h>

namespace imgsink::daemon {
namespace {

std::string Where(const std::string& path, const toml::source_region& r) {
  return path + ":" + std::to_string(r.begin.line);
}

// Returns true iff `node` is a scalar we can pass as an option value; sets *value.
bool ScalarText(const toml::node& node, std::string* value) {
  if (auto s = node.value<std::string>(); s && node.is_string()) {
    *value = *s;
  } else if (auto i = node.as_integer()) {
    *value = std::to_string(i->get());
  } else if (auto b = node.as_boolean()) {
    *value = b->get() ? "on" : "off";
  } else if (auto f = node.as_floating_point()) {
    std::ostringstream out;
    out << f->get();
    *value = out.str();
  } else {
    return false;
  }
  return true;
}

}  // namespace

Status ConfigFileArgs(const std::string& path, const std::set<std::string>& known,
                      const std::set<std::string>& given, std::vector<std::string>* args) {
  toml::table table;
  try {  // the packaged libtomlplusplus is built with exceptions; none leaves this function
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status(ErrorCode::kBadOption,
                  Where(path, e.source()) + ": " + std::string(e.description()));
  }
  for (const auto& [key_view, node] : table) {
    std::string name(key_view.str());
    std::replace(name.begin(), name.end(), '_', '-');
    const std::string where = Where(path, node.source()) + ": '" + std::string(key_view.str()) + "'";
    if (known.count(name) == 0) return Status(ErrorCode::kBadOption, where + " is not an option");
    if (given.count(name) != 0) continue;  // the command line wins
    std::vector<const toml::node*> values;
    if (const toml::array* array = node.as_array()) {
      for (const toml::node& element : *array) values.push_back(&element);
    } else {
      values.push_back(&node);
    }
    for (const toml::node* v : values) {
      std::string text;
      if (!ScalarText(*v, &text)) {
        return Status(ErrorCode::kBadOption, where + " must be a string, number, boolean or an "
                                                     "array of them");
      }
      if (v->is_boolean()) {  // flags take "--flag=on"; a separate "on" would be a stray word
        args->push_back("--" + name + "=" + text);
      } else {  // two tokens: an empty string stays an (empty) value
        args->push_back("--" + name);
        args->push_back(text);
      }
    }
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
