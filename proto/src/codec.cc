// Client -> daemon header frames (proto/PROTOCOL.md, "Client -> daemon"): the dispatch on
// "kind" (the save header is in codec_save.cc, its encoding in codec_save_encode.cc; status and
// credit headers in codec_requests.cc).
#include "imgsink/proto/codec.h"

#include "codec_requests.h"
#include "codec_save.h"
#include "msgpack_reader.h"

namespace imgsink {
namespace {

using proto_internal::KeyError;

// The request id, if the header has a readable one, so that even a refusal can name it.
uint64_t ScanRequestId(const msgpack::object_map& map) {
  const msgpack::object* id = proto_internal::FindValue(map, "id");
  return id != nullptr && id->type == msgpack::type::POSITIVE_INTEGER ? id->via.u64 : 0;
}

}  // namespace

std::string EncodeClientMessage(const ClientMessage& msg) {
  if (const auto* save = std::get_if<SaveRequest>(&msg)) return proto_internal::EncodeSaveRequest(*save);
  if (const auto* credit = std::get_if<CreditRequest>(&msg)) {
    return proto_internal::EncodeCreditRequest(*credit);
  }
  return proto_internal::EncodeStatusRequest(std::get<StatusRequest>(msg));
}

Status DecodeClientMessage(const void* data, size_t size, ClientMessage* out, uint64_t* request_id,
                           const DecodeLimits& limits) {
  *request_id = 0;
  try {
    msgpack::object_handle handle;
    Status s = proto_internal::UnpackMap(data, size, limits, &handle);
    if (!s.ok()) return s;
    const msgpack::object_map& map = handle.get().via.map;
    *request_id = ScanRequestId(map);
    s = proto_internal::CheckVersion(map);
    std::string_view kind;
    if (s.ok()) s = proto_internal::ReadKind(map, &kind);
    if (!s.ok()) return s;
    if (kind == "save") {
      SaveRequest save;
      s = proto_internal::DecodeSaveRequest(map, limits, &save);
      if (s.ok()) *out = std::move(save);
    } else if (kind == "status") {
      StatusRequest status;
      s = proto_internal::DecodeStatusRequest(map, limits, &status);
      if (s.ok()) *out = status;
    } else if (kind == "credit") {
      CreditRequest credit;
      s = proto_internal::DecodeCreditRequest(map, limits, &credit);
      if (s.ok()) *out = credit;
    } else {
      s = KeyError(ErrorCode::kBadRequest, "kind", "unknown value");
    }
    return s;
  } catch (const std::exception& e) {  // only std::bad_alloc can get here
    return Status(ErrorCode::kInternal, std::string("decoding the header: ") + e.what());
  }
}

}  // namespace imgsink
