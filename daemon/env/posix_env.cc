// The POSIX Env: files named by path (the Directory side is posix_directory.cc).
#include "daemon/env/env.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "daemon/env/io_error.h"
#include "daemon/env/posix_directory.h"

namespace imgsink::daemon {
namespace {

Status PosixError(const std::string& op, const std::string& path, int err) {
  return IoError(op + " " + path, err);
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { Close(); }

  Status Append(const ByteSpan* pieces, size_t n) override {
    // writev takes at most IOV_MAX pieces and may write less than asked: loop over both.
    std::vector<iovec> iov;
    iov.reserve(std::min<size_t>(n, IOV_MAX));
    size_t next = 0;
    size_t skip = 0;  // bytes of pieces[next] already written
    while (next < n) {
      iov.clear();
      for (size_t i = next; i < n && iov.size() < size_t(IOV_MAX); ++i) {
        size_t off = (i == next) ? skip : 0;
        if (pieces[i].size == off) continue;
        iov.push_back(iovec{const_cast<uint8_t*>(pieces[i].data + off), pieces[i].size - off});
      }
      if (iov.empty()) break;
      ssize_t w = ::writev(fd_, iov.data(), int(iov.size()));
      if (w < 0) {
        if (errno == EINTR) continue;
        return PosixError("write", path_, errno);
      }
      size_t left = size_t(w);
      while (next < n && left >= pieces[next].size - skip) {
        left -= pieces[next].size - skip;
        skip = 0;
        ++next;
      }
      skip += left;
    }
    return Status::OK();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return PosixError("fdatasync", path_, errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return PosixError("close", path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixSequentialFile : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  Status Read(size_t n, uint8_t* scratch, size_t* got) override {
    for (;;) {
      ssize_t r = ::read(fd_, scratch, n);
      if (r >= 0) {
        *got = size_t(r);
        return Status::OK();
      }
      if (errno != EINTR) return PosixError("read", path_, errno);
    }
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Status Read(uint64_t offset, size_t n, uint8_t* scratch, size_t* got) const override {
    size_t have = 0;
    while (have < n) {
      ssize_t r = ::pread(fd_, scratch + have, n - have, off_t(offset + have));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return PosixError("pread", path_, errno);
      if (r == 0) break;
      have += size_t(r);
    }
    *got = have;
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing the descriptor drops the flock

 private:
  int fd_;
};

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class PosixEnv : public Env {
 public:
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    return OpenWritable(path, O_TRUNC, file);
  }
  Status NewAppendableFile(const std::string& path,
                           std::unique_ptr<WritableFile>* file) override {
    return OpenWritable(path, O_APPEND, file);
  }

  Status NewSequentialFile(const std::string& path,
                           std::unique_ptr<SequentialFile>* file) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open", path, errno);
    *file = std::make_unique<PosixSequentialFile>(path, fd);
    return Status::OK();
  }

  Status NewRandomAccessFile(const std::string& path,
                             std::unique_ptr<RandomAccessFile>* file) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open", path, errno);
    *file = std::make_unique<PosixRandomAccessFile>(path, fd);
    return Status::OK();
  }

  Status GetChildren(const std::string& dir, std::vector<std::string>* names) override {
    names->clear();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError("opendir", dir, errno);
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names->push_back(std::move(name));
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return PosixError("readdir", dir, err);
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("rename", from + " -> " + to, errno);
    return Status::OK();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), off_t(size)) != 0) return PosixError("truncate", path, errno);
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError("open dir", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return PosixError("fsync dir", dir, err);
    return Status::OK();
  }

  Status GetFileSize(const std::string& path, uint64_t* size) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    *size = uint64_t(st.st_size);
    return Status::OK();
  }

  Status CreateDir(const std::string& dir) override {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::OK();
      return PosixError("mkdir", dir, ENOTDIR);
    }
    std::string parent = ParentDir(dir);
    if (parent != dir) {
      Status s = CreateDir(parent);
      if (!s.ok()) return s;
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return PosixError("mkdir", dir, errno);
    return SyncDir(parent);
  }

  Status LockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("open", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status(ErrorCode::kWriteFailed, "lock " + path + ": in use by another process");
      }
      return PosixError("flock", path, err);
    }
    *lock = std::make_unique<PosixFileLock>(fd);
    return Status::OK();
  }

  Status OpenDirectory(const std::string& dir, std::unique_ptr<Directory>* out) override {
    return OpenPosixDirectory(dir, out);
  }

 private:
  static Status OpenWritable(const std::string& path, int mode_flag,
                             std::unique_ptr<WritableFile>* file) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode_flag, 0644);
    if (fd < 0) return PosixError("open", path, errno);
    *file = std::make_unique<PosixWritableFile>(path, fd);
    return Status::OK();
  }
};

}  // namespace

std::unique_ptr<WritableFile> NewPosixWritableFile(std::string path, int fd) {
  return std::make_unique<PosixWritableFile>(std::move(path), fd);
}

Env* DefaultEnv() {
  static PosixEnv* env = new PosixEnv;  // never destroyed: usable during static destruction
  return env;
}

Status ReadWholeFile(Env* env, const std::string& path, std::vector<uint8_t>* contents) {
  uint64_t size = 0;
  Status s = env->GetFileSize(path, &size);
  if (!s.ok()) return s;
  std::unique_ptr<SequentialFile> file;
  s = env->NewSequentialFile(path, &file);
  if (!s.ok()) return s;
  contents->resize(size_t(size));
  size_t have = 0;
  while (have < contents->size()) {
    size_t got = 0;
    s = file->Read(contents->size() - have, contents->data() + have, &got);
    if (!s.ok()) return s;
    if (got == 0) break;
    have += got;
  }
  uint8_t extra;
  size_t got = 0;
  if (have == contents->size()) {
    s = file->Read(1, &extra, &got);
    if (!s.ok()) return s;
  }
  if (have != contents->size() || got != 0) {
    return Status(ErrorCode::kWriteFailed, "read " + path + ": file changed size while read");
  }
  return Status::OK();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace imgsink::daemon
