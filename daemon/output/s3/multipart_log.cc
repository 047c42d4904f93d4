#include "daemon/output/s3/multipart_log.h"

#include <cstdio>
#include <sstream>

#include "daemon/output/s3/s3_signing.h"

namespace imgsink::daemon {
namespace {

std::string Fnv1aHex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Undoes UriEncodeKey; a malformed escape is kept as written.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out += char(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Status ReadAll(Env* env, const std::string& path, std::string* text) {
  std::unique_ptr<SequentialFile> f;
  Status s = env->NewSequentialFile(path, &f);
  if (!s.ok()) return s;
  uint8_t buf[8192];
  for (;;) {
    size_t got = 0;
    s = f->Read(sizeof buf, buf, &got);
    if (!s.ok()) return s;
    if (got == 0) return Status::OK();
    text->append(reinterpret_cast<const char*>(buf), got);
  }
}

}  // namespace

Status MultipartLog::Open(Env* env, const std::string& dir, const std::string& bucket,
                          const std::string& prefix, std::vector<OpenUpload>* open,
                          std::unique_ptr<MultipartLog>* out) {
  Status s = env->CreateDir(dir);
  if (!s.ok()) return s;
  const std::string path = dir + "/s3-multipart-" + bucket + "-" + Fnv1aHex(prefix) + ".log";
  std::string text;
  uint64_t size = 0;
  if (env->GetFileSize(path, &size).ok()) {
    s = ReadAll(env, path, &text);
    if (!s.ok()) return s;
  }
  open->clear();
  size_t start = 0;
  auto forget_create = [open](const std::string& key) {
    for (auto it = open->begin(); it != open->end(); ++it) {
      if (it->upload_id.empty() && it->key == key) {
        open->erase(it);
        return;
      }
    }
  };
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::istringstream line(text.substr(start, nl - start));
    std::string verb, a, b;
    line >> verb >> a >> b;
    a = Unescape(a);
    b = Unescape(b);
    if (verb == "create" && !a.empty()) {
      forget_create(a);
      open->push_back(OpenUpload{std::string(), a});
    } else if (verb == "drop") {
      forget_create(a);
    } else if (verb == "begin" && !a.empty()) {
      forget_create(b);
      open->push_back(OpenUpload{a, b});
    } else if (verb == "end") {
      for (auto it = open->begin(); it != open->end(); ++it) {
        if (it->upload_id == a) {
          open->erase(it);
          break;
        }
      }
    }
  }
  // Compact: a new file with the open uploads only, renamed over the old one.
  const std::string tmp = path + ".tmp";
  std::unique_ptr<WritableFile> f;
  s = env->NewWritableFile(tmp, &f);
  if (!s.ok()) return s;
  std::string compact;
  for (const OpenUpload& u : *open) {
    compact += u.upload_id.empty()
                   ? "create " + UriEncodeKey(u.key) + "\n"
                   : "begin " + UriEncodeQueryValue(u.upload_id) + " " + UriEncodeKey(u.key) + "\n";
  }
  s = f->Append(ByteSpan{reinterpret_cast<const uint8_t*>(compact.data()), compact.size()});
  if (s.ok()) s = f->Sync();
  if (s.ok()) s = f->Close();
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (s.ok()) s = env->SyncDir(dir);
  if (s.ok()) s = env->NewAppendableFile(path, &f);
  if (!s.ok()) return s;
  out->reset(new MultipartLog(path, std::move(f)));
  return Status::OK();
}

Status MultipartLog::AppendSynced(const std::string& line) {
  MutexLock lock(&mu_);
  Status s = file_->Append(ByteSpan{reinterpret_cast<const uint8_t*>(line.data()), line.size()});
  if (s.ok()) s = file_->Sync();
  return s;
}

Status MultipartLog::Creating(const std::string& key) {
  return AppendSynced("create " + UriEncodeKey(key) + "\n");
}

Status MultipartLog::Drop(const std::string& key) {
  return AppendSynced("drop " + UriEncodeKey(key) + "\n");
}

Status MultipartLog::Begin(const std::string& upload_id, const std::string& key) {
  return AppendSynced("begin " + UriEncodeQueryValue(upload_id) + " " + UriEncodeKey(key) + "\n");
}

Status MultipartLog::End(const std::string& upload_id) {
  return AppendSynced("end " + UriEncodeQueryValue(upload_id) + "\n");
}

}  // namespace imgsink::daemon
