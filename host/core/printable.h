// core/printable.h — text from a hostile file (a zip member name, a TOML key, a --set argument)
// made safe to quote inside hmr's one-line error messages: control characters become C escapes
// (\n, \r, \t, \xNN), so a name holding a line break cannot split the message or forge a second
// line. Other bytes, UTF-8 included, are kept as they are.
#pragma once

#include <string>
#include <string_view>

namespace hmr {

inline std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7F) {
      out.push_back(ch);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace hmr
