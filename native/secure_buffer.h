// Byte buffers for secrets (PINs, plaintext, data keys). The memory is wiped
// with explicit_bzero before it is released, which the compiler may not
// optimise away as it may a plain memset.
#ifndef HSM_KMS_SECURE_BUFFER_H_
#define HSM_KMS_SECURE_BUFFER_H_

#include <string.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace hsm_kms {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(size_t size) : bytes_(size) {}
  SecureBuffer(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
  ~SecureBuffer() { Wipe(); }

  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  SecureBuffer(SecureBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
  }
  SecureBuffer& operator=(SecureBuffer&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.bytes_.clear();
    }
    return *this;
  }

  // Wipes the current contents, then sets the size. Growing a std::vector
  // may move its bytes to a new allocation, and wiping first means no copy of
  // the old contents is left behind in the released block.
  void Reset(size_t size) {
    Wipe();
    bytes_.assign(size, 0);
  }

  // Wipes the current contents, then copies `size` bytes in. When the
  // buffer already has the capacity, nothing is allocated.
  void Assign(const uint8_t* data, size_t size) {
    Wipe();
    bytes_.assign(data, data + size);
  }

  // Bytes allocated, used or not.
  size_t capacity() const { return bytes_.capacity(); }

  // Allocates room for `capacity` bytes now, while the buffer is empty, so
  // that a later Reset() up to that size allocates nothing.
  void Reserve(size_t capacity) {
    if (bytes_.empty()) bytes_.reserve(capacity);
  }

  // Shrinks the logical size after a call wrote fewer bytes than reserved.
  // The capacity is kept, and the tail is wiped at once.
  void Truncate(size_t size) {
    if (size < bytes_.size()) {
      explicit_bzero(bytes_.data() + size, bytes_.size() - size);
      bytes_.resize(size);
    }
  }

  void Wipe() {
    if (bytes_.capacity() > 0) {
      bytes_.resize(bytes_.capacity());
      explicit_bzero(bytes_.data(), bytes_.size());
    }
    bytes_.clear();
  }

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace hsm_kms

#endif  // HSM_KMS_SECURE_BUFFER_H_
