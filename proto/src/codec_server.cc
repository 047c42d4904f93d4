// Daemon -> client frames (proto/PROTOCOL.md, "Daemon -> client").
#include <bitset>
#include <iterator>

#include "imgsink/proto/codec.h"
#include "msgpack_reader.h"
#include "msgpack_writer.h"

namespace imgsink {
namespace {

using proto_internal::CanonicalWriter;
using proto_internal::FieldSpec;
using proto_internal::KeyError;

// Encoders cut longer messages so that every frame they write stays far below the decoder's
// max_header_bytes, which also bounds what decoders accept for "message".
constexpr size_t kMaxMessageBytes = 8192;

// Returns `s` cut to at most kMaxMessageBytes without splitting a UTF-8 sequence.
std::string_view CutMessage(std::string_view s) {
  if (s.size() <= kMaxMessageBytes) return s;
  size_t n = kMaxMessageBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void WriteRefusal(const Status& status, CanonicalWriter* w) {
  w->KeyStr("code", ErrorCodeName(status.code()));
  w->KeyStr("message", CutMessage(status.message()));
}

std::string EncodeReply(const Reply& r) {
  CanonicalWriter w;
  const bool ok = r.status.ok();
  // Which of the three ok answers this is: credit, else counters, else job (PROTOCOL.md).
  const bool credit_reply = ok && r.credit != 0;
  const bool status_reply = ok && !credit_reply && !r.counters.empty();
  w.Map(ok ? 5 : 6);
  w.KeyUint("v", kProtocolVersion);
  w.KeyStr("kind", "reply");
  w.KeyUint("id", r.request_id);
  w.KeyBool("ok", ok);
  if (!ok) {
    WriteRefusal(r.status, &w);
  } else if (credit_reply) {
    w.KeyUint("credit", r.credit);
  } else if (status_reply) {
    w.Str("counters");
    w.Map(r.counters.size());
    for (const auto& [name, value] : r.counters) w.KeyUint(name, value);  // byte order
  } else {
    w.KeyUint("job", r.job_id);
  }
  return w.Take();
}

std::string EncodeDone(const DoneEvent& d) {
  CanonicalWriter w;
  const bool ok = d.status.ok();
  w.Map(ok ? 5 : 7);
  w.KeyUint("v", kProtocolVersion);
  w.KeyStr("kind", "done");
  w.KeyUint("id", d.request_id);
  w.KeyUint("job", d.job_id);
  w.KeyBool("ok", ok);
  if (!ok) WriteRefusal(d.status, &w);
  return w.Take();
}

// ---- Decoding ----

// The union of the keys of replies and done events; which may appear is checked afterwards.
struct Fields {
  uint64_t id = 0;
  uint64_t job = 0;
  bool ok = false;
  std::map<std::string, uint64_t> counters;
  uint64_t credit = 0;
  std::string_view code;
  std::string_view message;
};

using Value = msgpack::object;
using Limits = DecodeLimits;

Status Skip(const Value&, std::string_view, const Limits&, Fields*) { return Status::OK(); }

Status ReadId(const Value& o, std::string_view key, const Limits&, Fields* f) {
  return proto_internal::ReadUint64(o, key, &f->id);
}

Status ReadJob(const Value& o, std::string_view key, const Limits&, Fields* f) {
  return proto_internal::ReadUint64(o, key, &f->job);
}

Status ReadOk(const Value& o, std::string_view key, const Limits&, Fields* f) {
  return proto_internal::ReadBool(o, key, &f->ok);
}

Status ReadCounters(const Value& o, std::string_view key, const Limits& limits, Fields* f) {
  if (o.type != msgpack::type::MAP) return KeyError(ErrorCode::kBadRequest, key, "must be a map");
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    std::string_view name;
    uint64_t value;
    Status s = proto_internal::ReadStr(o.via.map.ptr[i].key, key, limits.max_string_bytes,
                                       ErrorCode::kBadOption, &name);
    if (s.ok()) s = proto_internal::ReadUint64(o.via.map.ptr[i].val, key, &value);
    if (!s.ok()) return s;
    if (!f->counters.emplace(name, value).second) {
      return KeyError(ErrorCode::kBadRequest, key, "duplicate entry");
    }
  }
  return Status::OK();
}

Status ReadCredit(const Value& o, std::string_view key, const Limits&, Fields* f) {
  Status s = proto_internal::ReadUint64(o, key, &f->credit);
  if (s.ok() && f->credit == 0) return KeyError(ErrorCode::kBadOption, key, "must be at least 1");
  return s;
}

Status ReadCode(const Value& o, std::string_view key, const Limits&, Fields* f) {
  return proto_internal::ReadStr(o, key, 64, ErrorCode::kBadRequest, &f->code);
}

Status ReadMessage(const Value& o, std::string_view key, const Limits& limits, Fields* f) {
  return proto_internal::ReadStr(o, key, limits.max_header_bytes, ErrorCode::kBadOption,
                                 &f->message);
}

// Canonical order of a reply; "job"/"counters"/"credit"/"code"/"message" depend on "ok".
const FieldSpec<Fields> kReplyFields[] = {
    {"v", true, Skip},
    {"kind", true, Skip},
    {"id", true, ReadId},
    {"ok", true, ReadOk},
    {"job", false, ReadJob},
    {"counters", false, ReadCounters},
    {"credit", false, ReadCredit},
    {"code", false, ReadCode},
    {"message", false, ReadMessage},
};
enum ReplyKey { kRJob = 4, kRCounters = 5, kRCredit = 6, kRCode = 7, kRMessage = 8 };

const FieldSpec<Fields> kDoneFields[] = {
    {"v", true, Skip},
    {"kind", true, Skip},
    {"id", true, ReadId},
    {"job", true, ReadJob},
    {"ok", true, ReadOk},
    {"code", false, ReadCode},
    {"message", false, ReadMessage},
};
enum DoneKey { kDCode = 5, kDMessage = 6 };

// Returns the refusal that code/message describe.  A code this build does not know (a newer
// daemon's) becomes kInternal with the name kept in the message, so the refusal still arrives.
Status RefusalStatus(const Fields& f, Status* refusal) {
  ErrorCode code;
  if (!ErrorCodeFromName(f.code, &code)) {
    *refusal = Status(ErrorCode::kInternal, "unknown error code '" + std::string(f.code) +
                                                "': " + std::string(f.message));
  } else if (code == ErrorCode::kOk) {
    return KeyError(ErrorCode::kBadRequest, "code", "'ok' in a refusal");
  } else {
    *refusal = Status(code, std::string(f.message));
  }
  return Status::OK();
}

// `code`/`message` must be present exactly when !ok.
template <size_t N>
Status CheckRefusalKeys(const Fields& f, const std::bitset<N>& seen, size_t code_i,
                        size_t message_i) {
  for (size_t i : {code_i, message_i}) {
    if (seen.test(i) == f.ok) {
      return KeyError(ErrorCode::kBadRequest, i == code_i ? "code" : "message",
                      f.ok ? "only allowed when ok is false" : "missing");
    }
  }
  return Status::OK();
}

Status DecodeReply(const msgpack::object_map& map, const Limits& limits, Reply* out) {
  Fields f;
  std::bitset<std::size(kReplyFields)> seen;
  Status s = proto_internal::ReadFields(map, kReplyFields, limits, &f, &seen);
  if (s.ok()) s = proto_internal::CheckRequired(kReplyFields, seen);
  if (s.ok()) s = CheckRefusalKeys(f, seen, kRCode, kRMessage);
  if (!s.ok()) return s;
  // An ok reply answers exactly one kind of request: job (save), counters (status) or credit.
  const int answers = seen.test(kRJob) + seen.test(kRCounters) + seen.test(kRCredit);
  if (f.ok && answers != 1) {
    return Status(ErrorCode::kBadRequest,
                  "an ok reply has exactly one of 'job', 'counters' and 'credit'");
  }
  if (!f.ok && answers != 0) {
    const char* key = seen.test(kRJob) ? "job" : seen.test(kRCounters) ? "counters" : "credit";
    return KeyError(ErrorCode::kBadRequest, key, "only allowed when ok");
  }
  out->request_id = f.id;
  out->job_id = f.job;
  out->counters = std::move(f.counters);
  out->credit = f.credit;
  out->status = Status::OK();
  return f.ok ? Status::OK() : RefusalStatus(f, &out->status);
}

Status DecodeDone(const msgpack::object_map& map, const Limits& limits, DoneEvent* out) {
  Fields f;
  std::bitset<std::size(kDoneFields)> seen;
  Status s = proto_internal::ReadFields(map, kDoneFields, limits, &f, &seen);
  if (s.ok()) s = proto_internal::CheckRequired(kDoneFields, seen);
  if (s.ok()) s = CheckRefusalKeys(f, seen, kDCode, kDMessage);
  if (!s.ok()) return s;
  out->request_id = f.id;
  out->job_id = f.job;
  out->status = Status::OK();
  return f.ok ? Status::OK() : RefusalStatus(f, &out->status);
}

}  // namespace

std::string EncodeServerMessage(const ServerMessage& msg) {
  if (const auto* reply = std::get_if<Reply>(&msg)) return EncodeReply(*reply);
  return EncodeDone(std::get<DoneEvent>(msg));
}

Status DecodeServerMessage(const void* data, size_t size, ServerMessage* out,
                           const DecodeLimits& limits) {
  try {
    msgpack::object_handle handle;
    Status s = proto_internal::UnpackMap(data, size, limits, &handle);
    if (!s.ok()) return s;
    const msgpack::object_map& map = handle.get().via.map;
    s = proto_internal::CheckVersion(map);
    std::string_view kind;
    if (s.ok()) s = proto_internal::ReadKind(map, &kind);
    if (!s.ok()) return s;
    if (kind == "reply") {
      Reply reply;
      s = DecodeReply(map, limits, &reply);
      if (s.ok()) *out = std::move(reply);
    } else if (kind == "done") {
      DoneEvent done;
      s = DecodeDone(map, limits, &done);
      if (s.ok()) *out = std::move(done);
    } else {
      s = KeyError(ErrorCode::kBadRequest, "kind", "unknown value");
    }
    return s;
  } catch (const std::exception& e) {  // only std::bad_alloc can get here
    return Status(ErrorCode::kInternal, std::string("decoding a daemon message: ") + e.what());
  }
}

}  // namespace imgsink
