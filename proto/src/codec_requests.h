// The small client -> daemon headers ("status", "credit") and the BusyPolicy wire names, which
// the save header shares.  Internal to the codec; codec.cc dispatches on "kind".
// Thread-safety: all functions are pure.
#pragma once

#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace proto_internal {

// The wire name of `p` ("block", "drop", "error").
std::string_view BusyPolicyName(BusyPolicy p);
// Returns true iff `name` is a policy's wire name; sets *out then.
bool ParseBusyPolicy(std::string_view name, BusyPolicy* out);

// Canonical header frames (PROTOCOL.md, "Canonical form").
std::string EncodeStatusRequest(const StatusRequest& r);
std::string EncodeCreditRequest(const CreditRequest& r);

// Decode the entries of a header map whose "v" and "kind" were already checked, with the per-key
// checks of PROTOCOL.md "Decoder checks" steps 5 and 6.  *out is unspecified on failure.
Status DecodeStatusRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                           StatusRequest* out);
Status DecodeCreditRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                           CreditRequest* out);

}  // namespace proto_internal
}  // namespace imgsink
