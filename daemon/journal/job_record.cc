#include "daemon/journal/job_record.h"

#include <cstring>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/formats.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon::journal {
namespace {

// ISJ3 records carry the encoded files; ISJ2 (before that) the rendered pixels and the output
// paths as resolved at acceptance; ISJ1 (before path modes) pixels and no paths (expanded
// again from the header).  All three are read; only ISJ3 is written.
constexpr char kMagic[4] = {'I', 'S', 'J', '3'};
constexpr char kMagicV2[4] = {'I', 'S', 'J', '2'};
constexpr char kMagicV1[4] = {'I', 'S', 'J', '1'};

template <typename T>
void Put(std::string* out, T value) {  // little-endian, as every x86/arm64 host
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

// Reads little-endian fields from a byte range; every read is bounds-checked.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  template <typename T>
  bool Get(T* value) {
    if (size_t(end_ - p_) < sizeof(T)) return false;
    std::memcpy(value, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool Take(size_t n, const uint8_t** out) {
    if (size_t(end_ - p_) < n) return false;
    *out = p_;
    p_ += n;
    return true;
  }
  size_t left() const { return size_t(end_ - p_); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status Corrupt(const std::string& what) {
  return Status(ErrorCode::kJournalFailed, "unreadable job record: " + what);
}

// ISJ1/ISJ2: the image table, then the pixels.
Status DecodeImages(Reader* r, JobRecord* record) {
  uint32_t count;
  if (!r->Get(&count) || count > r->left() / 18) return Corrupt("bad image count");
  record->images.assign(count, Image());
  std::vector<uint64_t> sizes(count);
  for (uint32_t i = 0; i < count; ++i) {
    Image& image = record->images[i];
    uint32_t w, h;
    uint8_t c, bits;
    if (!r->Get(&w) || !r->Get(&h) || !r->Get(&c) || !r->Get(&bits) || !r->Get(&sizes[i])) {
      return Corrupt("short image table");
    }
    image.width = int(w);
    image.height = int(h);
    image.channels = c;
    image.bit_depth = bits;
    if (sizes[i] != uint64_t(w) * h * c * (bits / 8)) return Corrupt("image size mismatch");
  }
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* pixels;
    if (!r->Take(sizes[i], &pixels)) return Corrupt("short pixels");
    record->images[i].pixels.assign(pixels, pixels + sizes[i]);
  }
  return Status::OK();
}

// ISJ3: the file size table, then the files' bytes.
Status DecodeFiles(Reader* r, JobRecord* record) {
  uint32_t count;
  if (!r->Get(&count) || count > r->left() / 8) return Corrupt("bad file count");
  std::vector<uint64_t> sizes(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (!r->Get(&sizes[i])) return Corrupt("short file table");
  }
  record->files.assign(count, {});
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* bytes;
    if (!r->Take(sizes[i], &bytes)) return Corrupt("short file");
    record->files[i].assign(bytes, bytes + sizes[i]);
  }
  return Status::OK();
}

}  // namespace

std::string EncodeJobRecordPrefix(const std::string& client, const SaveRequest& request,
                                  const std::vector<std::string>& paths,
                                  const std::vector<std::vector<uint8_t>>& files) {
  std::string out(kMagic, sizeof kMagic);
  Put<uint16_t>(&out, uint16_t(client.size()));
  out += client;
  const std::string header = EncodeClientMessage(request);
  Put<uint32_t>(&out, uint32_t(header.size()));
  out += header;
  Put<uint32_t>(&out, uint32_t(paths.size()));
  for (const std::string& path : paths) {
    Put<uint32_t>(&out, uint32_t(path.size()));
    out += path;
  }
  Put<uint32_t>(&out, uint32_t(files.size()));
  for (const std::vector<uint8_t>& file : files) Put<uint64_t>(&out, uint64_t(file.size()));
  return out;
}

Status DecodeJobRecord(const uint8_t* data, size_t size, JobRecord* record) {
  Reader r(data, size);
  const uint8_t* magic;
  if (!r.Take(sizeof kMagic, &magic)) return Corrupt("bad magic");
  const bool v1 = std::memcmp(magic, kMagicV1, sizeof kMagicV1) == 0;
  const bool v3 = std::memcmp(magic, kMagic, sizeof kMagic) == 0;
  if (!v1 && !v3 && std::memcmp(magic, kMagicV2, sizeof kMagicV2) != 0) return Corrupt("bad magic");
  uint16_t client_len;
  const uint8_t* client;
  uint32_t header_len;
  const uint8_t* header;
  if (!r.Get(&client_len) || !r.Take(client_len, &client) || !r.Get(&header_len) ||
      !r.Take(header_len, &header)) {
    return Corrupt("short header");
  }
  record->client.assign(reinterpret_cast<const char*>(client), client_len);
  ClientMessage msg;
  uint64_t request_id = 0;
  Status s = DecodeClientMessage(header, header_len, &msg, &request_id);
  if (!s.ok() || !std::holds_alternative<SaveRequest>(msg)) {
    return Corrupt("save header: " + s.ToString());
  }
  record->request = std::get<SaveRequest>(std::move(msg));
  // The same decision validation made before the job was journaled.
  if (record->request.tensorboard) {
    record->format = OutputFormat::kPng;  // as validation decided: the path is a run directory
  } else if (!ResolveOutputFormat(record->request.format, record->request.path, &record->format)) {
    return Corrupt("no output format");
  }
  record->paths.clear();
  if (!v1) {
    uint32_t path_count;
    if (!r.Get(&path_count) || path_count > r.left() / 4) return Corrupt("bad path count");
    for (uint32_t i = 0; i < path_count; ++i) {
      uint32_t path_len;
      const uint8_t* path;
      if (!r.Get(&path_len) || !r.Take(path_len, &path)) return Corrupt("short path");
      record->paths.emplace_back(reinterpret_cast<const char*>(path), path_len);
      if (!CheckOutputPath(record->paths.back()).ok()) return Corrupt("bad output path");
    }
  }
  record->images.clear();
  record->files.clear();
  s = v3 ? DecodeFiles(&r, record) : DecodeImages(&r, record);
  if (!s.ok()) return s;
  const size_t count = v3 ? record->files.size() : record->images.size();
  if (r.left() != 0) return Corrupt("trailing bytes");
  const SaveRequest& req = record->request;
  if (req.mode == OutputMode::kGrid ? count != 1 : count == 0) return Corrupt("bad file count");
  if (!v1) {
    if (record->paths.size() != count) return Corrupt("path count differs from file count");
    return Status::OK();
  }
  // ISJ1: the paths were checked when the job was accepted, all relative to the one output
  // root of its day; expanding them again by the same rule (imgsink/proto/paths.h) gives the
  // same files.
  s = ExpandSavePaths(req.path, req.mode, req.metadata, int64_t(count), &record->paths);
  if (!s.ok()) return Corrupt("output paths: " + s.message());
  return Status::OK();
}

}  // namespace imgsink::daemon::journal
