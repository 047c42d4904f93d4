#include "imgsink/endpoint.h"

#include <cstdlib>
#include <set>
#include <utility>

namespace imgsink {

std::string ClientDefaultEndpoint() {
  const char* env = std::getenv("IMGSINK_ENDPOINT");
  return env != nullptr && env[0] != '\0' ? std::string(env) : DefaultEndpoint();
}

namespace {

std::string Trimmed(const std::string& s) {
  const char* const kSpace = " \t\n\r\f\v";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace

bool CheckEndpointList(std::vector<std::string>* endpoints, std::string* error) {
  if (endpoints->empty()) {
    *error = "no endpoint given (the endpoint list is empty)";
    return false;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < endpoints->size(); ++i) {
    std::string& item = (*endpoints)[i];
    item = Trimmed(item);
    if (item.empty()) {
      *error = "endpoint " + std::to_string(i + 1) + " of " + std::to_string(endpoints->size()) +
               " in the list is empty";
      return false;
    }
    if (!seen.insert(item).second) {
      *error = "endpoint '" + item + "' is listed twice";
      return false;
    }
  }
  return true;
}

bool SplitEndpointList(const std::string& list, std::vector<std::string>* endpoints,
                       std::string* error) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    items.push_back(list.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (items.size() == 1 && Trimmed(items[0]).empty()) items.clear();  // "" names no endpoint
  if (!CheckEndpointList(&items, error)) {
    *error += " ('" + list.substr(0, 256) + "')";
    return false;
  }
  *endpoints = std::move(items);
  return true;
}

}  // namespace imgsink
