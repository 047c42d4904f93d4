// CURVE keys for a tcp:// daemon (imgsinkd requires CURVE on tcp unless run with
// --insecure-tcp; README "Many nodes").  Keys are 40-character Z85 text, as
// `imgsinkctl keygen` writes them (PREFIX.pub, PREFIX.key) and zmq_curve_keypair makes them.
#pragma once

#include <string>

#include "imgsink/proto/status.h"

namespace imgsink {

struct CurveKeys {
  std::string server_public_key;  // the daemon's public key
  std::string public_key;         // this client's public key (the daemon must list it)
  std::string secret_key;         // this client's secret key
};

// Sets *z85 to `key_or_path` itself when that is 40 characters and names no existing file,
// else to the key in the file it names: the first line that is neither blank nor a '#'
// comment, which must be 40 characters.  Returns OK, or kBadOption saying why not (the key
// text itself is never put in a message).  REQUIRES: z85 non-null.  Thread-safe.
Status LoadCurveKey(const std::string& key_or_path, std::string* z85);

// Parses "SERVER,PUBLIC,SECRET" (each a key or a key file, as LoadCurveKey), the form of the
// IMGSINK_CURVE environment variable the clients read.  Returns OK and sets *keys, or
// kBadOption.  REQUIRES: keys non-null.  Thread-safe.
Status ParseCurveKeys(const std::string& spec, CurveKeys* keys);

}  // namespace imgsink
