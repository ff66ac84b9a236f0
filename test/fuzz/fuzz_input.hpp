#pragma once
// Reads a fuzz input front to back as a little script: integers and byte
// strings of the sizes asked for. Past the end, integers read as 0 and
// strings as empty, so every input is a valid script and the mutations
// libFuzzer makes to one field leave the meaning of the fields before it
// alone (unlike FuzzedDataProvider, which takes integers from the back).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace edgefn::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const noexcept { return pos_ >= size_; }

  template <class T>
  T take() noexcept {
    T value{};
    const std::size_t n = std::min(sizeof(T), size_ - pos_);
    std::memcpy(&value, data_ + pos_, n);
    pos_ += n;
    return value;
  }

  // Up to `n` bytes (fewer at the end of the input).
  std::string_view bytes(std::size_t n) noexcept {
    n = std::min(n, size_ - pos_);
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace edgefn::fuzz
