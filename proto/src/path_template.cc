// Output paths, the path templates (PROTOCOL.md "Paths", the syntax in paths.h): parsing a
// template's replacement fields and expanding them into the output paths of a save request.
// The rules on the expanded path are in paths.cc.
#include "imgsink/proto/paths.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace imgsink {

namespace {

Status BadTemplate(std::string_view tmpl, const std::string& why) {
  return Status(ErrorCode::kBadPath, "path template " + QuoteForMessage(tmpl) + ": " + why);
}

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// One replacement field, the text between '{' and '}'.
struct Field {
  std::string_view name;
  std::string_view spec;  // after ':'; empty if none
  bool has_spec = false;
};

// Splits and checks a field's text.  Returns an empty string on success, else the problem.
std::string ParseField(std::string_view text, Field* field) {
  const size_t colon = text.find(':');
  field->name = text.substr(0, colon);
  field->has_spec = colon != std::string_view::npos;
  field->spec = field->has_spec ? text.substr(colon + 1) : std::string_view();
  if (field->name.empty()) return "empty field name '{}' (use a name, e.g. {index})";
  if (!IsNameStart(field->name[0])) return "field name must start with a letter or '_'";
  for (char c : field->name) {
    if (!IsNameChar(c)) return "field name may hold only letters, digits and '_' (no '!', '.', '[')";
  }
  return "";
}

// Walks `tmpl`, calling on_literal(std::string_view) for text and on_field(const Field&) for
// fields (which returns an error string, empty when fine).  Returns the first problem or "".
template <typename OnLiteral, typename OnField>
std::string Scan(std::string_view tmpl, OnLiteral on_literal, OnField on_field) {
  size_t i = 0;
  while (i < tmpl.size()) {
    const size_t brace = tmpl.find_first_of("{}", i);
    if (brace == std::string_view::npos) {
      on_literal(tmpl.substr(i));
      break;
    }
    on_literal(tmpl.substr(i, brace - i));
    if (brace + 1 < tmpl.size() && tmpl[brace + 1] == tmpl[brace]) {  // "{{" or "}}"
      on_literal(tmpl.substr(brace, 1));
      i = brace + 2;
      continue;
    }
    if (tmpl[brace] == '}') return "single '}' at byte " + std::to_string(brace) + " (write '}}' for a brace)";
    const size_t close = tmpl.find_first_of("{}", brace + 1);
    if (close == std::string_view::npos || tmpl[close] == '{') {
      return "unmatched '{' at byte " + std::to_string(brace) + " (write '{{' for a brace)";
    }
    Field field;
    std::string problem = ParseField(tmpl.substr(brace + 1, close - brace - 1), &field);
    if (problem.empty()) problem = on_field(field);
    if (!problem.empty()) return problem;
    i = close + 1;
  }
  return "";
}

// Parses an int spec: "" or "d" (width 0) or "0Nd" with N in 1..9.  Returns false otherwise.
bool ParseIntSpec(std::string_view spec, int* width) {
  if (spec.empty() || spec == "d") {
    *width = 0;
    return true;
  }
  if (spec.size() == 3 && spec[0] == '0' && spec[1] >= '1' && spec[1] <= '9' && spec[2] == 'd') {
    *width = spec[1] - '0';
    return true;
  }
  return false;
}

// Appends Python's format(value, "0{width}d"): sign, then digits zero-padded to `width` in total.
void AppendInt(int64_t value, int width, std::string* out) {
  const bool negative = value < 0;
  // Magnitude via unsigned arithmetic: -INT64_MIN does not fit in int64_t.
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  char digits[20];  // UINT64_MAX has 20
  int n = 0;
  do {
    digits[sizeof digits - 1 - n++] = char('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  if (negative) out->push_back('-');
  const int padding = width - n - (negative ? 1 : 0);
  if (padding > 0) out->append(size_t(padding), '0');
  out->append(digits + sizeof digits - n, size_t(n));
}

// Appends the expansion of `field` to *out.  Returns the problem, or "" when fine.
std::string AppendField(const Field& field, const std::map<std::string, std::string>& string_vars,
                        const std::map<std::string, int64_t>& int_vars, std::string* out) {
  const std::string name(field.name);
  const auto as_string = string_vars.find(name);
  const auto as_int = int_vars.find(name);
  if (as_string != string_vars.end() && as_int != int_vars.end()) return "field {" + name + "} is ambiguous";
  if (as_int != int_vars.end()) {
    int width;
    if (!ParseIntSpec(field.spec, &width)) {
      return "bad format spec '" + std::string(field.spec) + "' for {" + name +
             "}: use {" + name + "}, {" + name + ":d} or {" + name + ":0Nd} with N in 1..9";
    }
    AppendInt(as_int->second, width, out);
    return "";
  }
  if (as_string != string_vars.end()) {
    if (field.has_spec && !field.spec.empty()) return "field {" + name + "} is text and takes no format spec";
    out->append(as_string->second);
    return "";
  }
  return "unknown field {" + name + "}";
}

// OK iff `expanded`, the expansion of `tmpl`, is an output path a client may send.
Status CheckExpansion(std::string_view tmpl, const std::string& expanded) {
  const Status status = CheckOutputPath(expanded);
  if (!status.ok()) return BadTemplate(tmpl, "expands to a bad path: " + status.message());
  return Status::OK();
}

}  // namespace

Status ExpandTemplate(std::string_view tmpl, const std::map<std::string, std::string>& string_vars,
                      const std::map<std::string, int64_t>& int_vars, std::string* out) {
  out->clear();
  const std::string problem = Scan(
      tmpl, [&](std::string_view text) { out->append(text); },
      [&](const Field& field) { return AppendField(field, string_vars, int_vars, out); });
  if (!problem.empty()) return BadTemplate(tmpl, problem);
  return CheckExpansion(tmpl, *out);
}

bool ParseMetaInt(std::string_view s, int64_t* value) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty()) return false;
  // Accumulate the magnitude as uint64: INT64_MIN's magnitude is one past INT64_MAX.
  const uint64_t limit = negative ? uint64_t{1} << 63 : uint64_t{INT64_MAX};
  uint64_t magnitude = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = uint64_t(c - '0');
    if (magnitude > (limit - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  *value = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
  return true;
}

Status ExpandSavePaths(std::string_view path, OutputMode mode,
                       const std::map<std::string, std::string>& metadata, int64_t files,
                       std::vector<std::string>* out) {
  if (path.size() > kMaxPathBytes) {  // the wire's limit on the template itself
    return BadTemplate(path, "is " + std::to_string(path.size()) + " bytes; at most " +
                                 std::to_string(kMaxPathBytes) + " are allowed");
  }
  std::map<std::string, std::string> strings;
  std::map<std::string, int64_t> ints;
  for (const auto& [key, value] : metadata) {
    int64_t number;
    if (ParseMetaInt(value, &number)) {
      ints.emplace(key, number);
    } else {
      strings.emplace(key, value);
    }
  }
  out->clear();
  if (mode == OutputMode::kGrid) {
    out->emplace_back();
    return ExpandTemplate(path, strings, ints, &out->back());
  }
  if (!TemplateUses(path, "index")) {
    return BadTemplate(path, "mode 'each' writes one file per image: the path must contain "
                             "{index} (e.g. \"samples/{index:04d}.png\")");
  }
  if (metadata.count("index") != 0) {
    return BadTemplate(path, "meta key 'index' clashes with the {index} of mode 'each'");
  }
  // Parse once: the template as texts[0] {index} texts[1] {index} ... with every other field
  // expanded, so each file costs only its index's digits and the path check (a batch may have
  // many images, and this runs on the daemon's socket thread).
  std::vector<std::string> texts(1);
  std::vector<int> widths;  // of each {index} field
  ints["index"] = 0;
  const std::string problem = Scan(
      path, [&](std::string_view text) { texts.back().append(text); },
      [&](const Field& field) -> std::string {
        if (field.name != "index") return AppendField(field, strings, ints, &texts.back());
        std::string unused;
        std::string field_problem = AppendField(field, strings, ints, &unused);  // checks the spec
        int width = 0;
        if (field_problem.empty() && ParseIntSpec(field.spec, &width)) {
          widths.push_back(width);
          texts.emplace_back();
        }
        return field_problem;
      });
  if (!problem.empty()) return BadTemplate(path, problem);
  out->reserve(size_t(files));
  for (int64_t i = 0; i < files; ++i) {
    std::string expanded = texts[0];
    for (size_t k = 0; k < widths.size(); ++k) {
      AppendInt(i, widths[k], &expanded);
      expanded += texts[k + 1];
    }
    const Status s = CheckExpansion(path, expanded);
    if (!s.ok()) return s;
    out->push_back(std::move(expanded));
  }
  return Status::OK();
}

Status CheckSavePath(std::string_view path, OutputMode mode,
                     const std::map<std::string, std::string>& metadata) {
  std::vector<std::string> first;
  return ExpandSavePaths(path, mode, metadata, 1, &first);
}

bool TemplateUses(std::string_view tmpl, std::string_view name) {
  bool found = false;
  Scan(
      tmpl, [](std::string_view) {},
      [&](const Field& field) -> std::string {
        if (field.name == name) found = true;
        return "";
      });
  return found;
}

}  // namespace imgsink
