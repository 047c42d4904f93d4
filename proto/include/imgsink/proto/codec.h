// Encodes and decodes the header frames of proto/PROTOCOL.md with msgpack.
//
// Decoding treats its input as untrusted: it sets msgpack unpack limits, rejects trailing bytes,
// checks every type and range, and reports each failure as a Status (kBadMessage,
// kUnsupportedVersion, kBadRequest, ...).  Nothing throws out of these functions.
// Thread-safety: all functions are pure and safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink {

// Upper bounds the decoder enforces before allocating (see PROTOCOL.md, "Limits").
struct DecodeLimits {
  size_t max_header_bytes = 64 * 1024;
  size_t max_rank = 4;
  size_t max_string_bytes = 4096;
  size_t max_metadata_entries = 64;
};

// Client -> daemon header frames.
std::string EncodeClientMessage(const ClientMessage& msg);
// On failure *request_id still holds the header's "id" when it could be read (else 0), so the
// error reply can name the request.  REQUIRES: out, request_id non-null.
Status DecodeClientMessage(const void* data, size_t size, ClientMessage* out,
                           uint64_t* request_id, const DecodeLimits& limits = DecodeLimits());

// Daemon -> client frames.
std::string EncodeServerMessage(const ServerMessage& msg);
Status DecodeServerMessage(const void* data, size_t size, ServerMessage* out,
                           const DecodeLimits& limits = DecodeLimits());

}  // namespace imgsink
