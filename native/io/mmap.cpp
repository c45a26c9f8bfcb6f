// Memory-mapped files for the training data reader (src/train/data.ts).
// mmap_file(path) → ArrayBuffer over a private copy-on-write mapping: pages come from the
// page cache on first touch, a stray write from JS changes only this process's copy (never
// the file, never a crash), and an empty file gives a zero-length ArrayBuffer. The mapping
// is unmapped when the ArrayBuffer is collected, or by mmap_close(buffer), which detaches it at
// once (every view over it then reads as length 0 instead of touching freed pages) and unmaps
// it when Node runs the finalizer, on the next turn of the event loop.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "check.h"
#include "registry.h"

namespace rrt {

// Live mappings by address: mmap_close only detaches buffers this file created.
static std::mutex g_maps_mutex;
static std::unordered_map<void*, size_t> g_maps;

static void unmap(Napi::Env, void* data) {
  size_t len = 0;
  {
    std::lock_guard<std::mutex> lock(g_maps_mutex);
    auto it = g_maps.find(data);
    if (it == g_maps.end()) return;
    len = it->second;
    g_maps.erase(it);
  }
  munmap(data, len);
}

static std::string path_arg(const Args& a, const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) a.type_error("path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty()) a.type_error("path must not be empty");
  if (path.find('\0') != std::string::npos) a.type_error("path must not contain NUL characters");
  return path;
}

[[noreturn]] static void sys_error(Napi::Env env, const char* what, const std::string& path, int err) {
  Napi::Error e = Napi::Error::New(env, std::string("[mmap_file] ") + what + " " + path + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  throw e;
}

static Napi::Value js_mmap_file(const Napi::CallbackInfo& info) {
  Args a(info, "mmap_file", 1);
  Napi::Env env = info.Env();
  std::string path = path_arg(a, info);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) sys_error(env, "cannot open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    sys_error(env, "cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    sys_error(env, "cannot map", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  }
  size_t len = (size_t)st.st_size;
  if (len == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) sys_error(env, "cannot map", path, err);
  {
    std::lock_guard<std::mutex> lock(g_maps_mutex);
    g_maps[p] = len;
  }
  return Napi::ArrayBuffer::New(env, p, len, unmap);
}

// Detaching drops the engine's reference to the memory; the finalizer (unmap) then runs.
static Napi::Value js_mmap_close(const Napi::CallbackInfo& info) {
  Args a(info, "mmap_close", 1);
  if (!info[0].IsArrayBuffer()) a.type_error("buffer must be an ArrayBuffer returned by mmap_file");
  auto buf = info[0].As<Napi::ArrayBuffer>();
  if (buf.ByteLength() == 0) return info.Env().Undefined();  // empty files are not mapped
  {
    std::lock_guard<std::mutex> lock(g_maps_mutex);
    if (g_maps.find(buf.Data()) == g_maps.end()) a.type_error("buffer must be an ArrayBuffer returned by mmap_file");
  }
  buf.Detach();
  return info.Env().Undefined();
}

RRT_EXPORT("mmap_file", js_mmap_file);
RRT_EXPORT("mmap_close", js_mmap_close);

}  // namespace rrt
