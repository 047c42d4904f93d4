// The "status" and "credit" client headers (proto/PROTOCOL.md, "Client -> daemon" and
// "Flow control (credits)").
#include "codec_requests.h"

#include <bitset>
#include <iterator>
#include <limits>

#include "msgpack_reader.h"
#include "msgpack_writer.h"

namespace imgsink {
namespace proto_internal {
namespace {

// Indexed by BusyPolicy.
constexpr std::string_view kPolicyNames[] = {"block", "drop", "error"};

using Value = msgpack::object;
using Limits = DecodeLimits;

// ---- status ----

Status SkipStatusKey(const Value&, std::string_view, const Limits&, StatusRequest*) {
  return Status::OK();  // v and kind are checked before the fields are read
}

Status ReadStatusId(const Value& o, std::string_view key, const Limits&, StatusRequest* r) {
  return ReadUint64(o, key, &r->request_id);
}

const FieldSpec<StatusRequest> kStatusFields[] = {
    {"v", true, SkipStatusKey},
    {"kind", true, SkipStatusKey},
    {"id", true, ReadStatusId},
};

// ---- credit ----

Status SkipCreditKey(const Value&, std::string_view, const Limits&, CreditRequest*) {
  return Status::OK();  // v and kind are checked before the fields are read
}

Status ReadCreditId(const Value& o, std::string_view key, const Limits&, CreditRequest* r) {
  return ReadUint64(o, key, &r->request_id);
}

Status ReadCreditBytes(const Value& o, std::string_view key, const Limits&, CreditRequest* r) {
  Status s = ReadUint64(o, key, &r->bytes);
  if (s.ok() && r->bytes == 0) return KeyError(ErrorCode::kBadOption, key, "must be at least 1");
  return s;
}

Status ReadCreditPolicy(const Value& o, std::string_view key, const Limits&, CreditRequest* r) {
  return ReadEnum(o, key, ParseBusyPolicy, ErrorCode::kBadOption, &r->policy);
}

Status ReadCreditTimeout(const Value& o, std::string_view key, const Limits&, CreditRequest* r) {
  int64_t v;
  Status s = ReadInt(o, key, 0, std::numeric_limits<uint32_t>::max(), ErrorCode::kBadOption, &v);
  if (s.ok()) r->timeout_ms = static_cast<uint32_t>(v);
  return s;
}

// Every key of a credit header, in canonical order; all are required, so that a credit header
// means the same to every daemon (no defaults to disagree on).
const FieldSpec<CreditRequest> kCreditFields[] = {
    {"v", true, SkipCreditKey},         {"kind", true, SkipCreditKey},
    {"id", true, ReadCreditId},         {"bytes", true, ReadCreditBytes},
    {"policy", true, ReadCreditPolicy}, {"timeout_ms", true, ReadCreditTimeout},
};

}  // namespace

std::string_view BusyPolicyName(BusyPolicy p) {
  const auto i = static_cast<size_t>(p);
  return i < std::size(kPolicyNames) ? kPolicyNames[i] : std::string_view();
}

bool ParseBusyPolicy(std::string_view name, BusyPolicy* out) {
  for (size_t i = 0; i < std::size(kPolicyNames); ++i) {
    if (kPolicyNames[i] == name) {
      *out = static_cast<BusyPolicy>(i);
      return true;
    }
  }
  return false;
}

std::string EncodeStatusRequest(const StatusRequest& r) {
  CanonicalWriter w;
  w.Map(std::size(kStatusFields));
  w.KeyUint("v", kProtocolVersion);
  w.KeyStr("kind", "status");
  w.KeyUint("id", r.request_id);
  return w.Take();
}

std::string EncodeCreditRequest(const CreditRequest& r) {
  CanonicalWriter w;
  w.Map(std::size(kCreditFields));
  w.KeyUint("v", kProtocolVersion);
  w.KeyStr("kind", "credit");
  w.KeyUint("id", r.request_id);
  w.KeyUint("bytes", r.bytes);
  w.KeyStr("policy", BusyPolicyName(r.policy));
  w.KeyUint("timeout_ms", r.timeout_ms);
  return w.Take();
}

Status DecodeStatusRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                           StatusRequest* out) {
  std::bitset<std::size(kStatusFields)> seen;
  Status s = ReadFields(map, kStatusFields, limits, out, &seen);
  if (s.ok()) s = CheckRequired(kStatusFields, seen);
  return s;
}

Status DecodeCreditRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                           CreditRequest* out) {
  std::bitset<std::size(kCreditFields)> seen;
  Status s = ReadFields(map, kCreditFields, limits, out, &seen);
  if (s.ok()) s = CheckRequired(kCreditFields, seen);
  return s;
}

}  // namespace proto_internal
}  // namespace imgsink
