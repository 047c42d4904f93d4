// libFuzzer harness: the protocol's header decoder (the first frame of every client message),
// the bytes any peer of the daemon controls.  Decoded messages are encoded again and decoded
// once more: the canonical form must round-trip (a decoder that accepts what the encoder then
// cannot write would journal a record recovery cannot read).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "imgsink/proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imgsink::ClientMessage msg;
  uint64_t request_id = 0;
  const imgsink::Status s = imgsink::DecodeClientMessage(data, size, &msg, &request_id);
  if (!s.ok()) return 0;
  const std::string again = imgsink::EncodeClientMessage(msg);
  imgsink::ClientMessage msg2;
  uint64_t id2 = 0;
  if (!imgsink::DecodeClientMessage(again.data(), again.size(), &msg2, &id2).ok()) std::abort();
  if (id2 != request_id) std::abort();
  return 0;
}
