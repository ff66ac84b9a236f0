#include "shm/codec.hpp"

#include <bit>

namespace edgefn::shm {

static_assert(std::endian::native == std::endian::little, "the shm protocol is little-endian, as is the host");

void HeadWriter::pairs(const Pairs& pairs) {
  for (const auto& [name, value] : pairs) {
    len(name.size());
    len(value.size());
  }
  for (const auto& [name, value] : pairs) {
    bytes(name);
    bytes(value);
  }
}

std::size_t HeadWriter::pairs_size(const Pairs& pairs) {
  std::size_t n = 0;
  for (const auto& [name, value] : pairs) n += 8 + name.size() + value.size();
  return n;
}

bool HeadReader::skip(std::size_t n) {
  if (in_.size() - pos_ < n) return fail("padding");
  pos_ += n;
  return true;
}

bool HeadReader::str(std::uint32_t n, std::string& out) {
  if (in_.size() - pos_ < n) return fail("string bytes");
  out.assign(in_.data() + pos_, n);
  pos_ += n;
  return true;
}

bool HeadReader::pairs(std::uint32_t count, Pairs& out) {
  // Checked before anything is reserved: a hostile count cannot make the
  // daemon allocate more than the head's own size.
  if ((in_.size() - pos_) / 8 < count) return fail("pair lengths");
  std::size_t lengths_at = pos_;
  pos_ += std::size_t{count} * 8;
  out.clear();
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t lengths[2];
    std::memcpy(lengths, in_.data() + lengths_at + std::size_t{i} * 8, sizeof lengths);
    auto& [name, value] = out.emplace_back();
    if (!str(lengths[0], name) || !str(lengths[1], value)) return false;
  }
  return true;
}

Decoded<bool> HeadReader::finish(const char* what) const {
  if (!error_.empty()) return tl::make_unexpected(std::string(what) + " head truncated in its " + error_);
  if (pos_ != in_.size())
    return tl::make_unexpected(std::string(what) + " head has " + std::to_string(in_.size() - pos_) +
                               " bytes left over");
  return true;
}

bool HeadReader::fail(const char* where) {
  if (error_.empty()) error_ = where;
  return false;
}

std::string encode_hello(const Hello& hello) {
  std::string out;
  HeadWriter w(out);
  w.put(hello.protocol_version);
  w.put(hello.pid);
  return out;
}

Decoded<Hello> decode_hello(std::string_view head) {
  HeadReader r(head);
  Hello hello;
  r.get(hello.protocol_version) && r.get(hello.pid);
  if (auto done = r.finish("hello"); !done) return tl::make_unexpected(done.error());
  return hello;
}

}  // namespace edgefn::shm
