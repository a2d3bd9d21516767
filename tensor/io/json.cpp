// tensor/io/json.cpp: strict recursive-descent JSON parser (RFC 8259) and compact serializer.
#include "tensor/io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <unordered_set>

namespace fm {

const char* json_type_name(Json::Type t) {
  static const char* names[] = {"null", "bool", "number", "string", "array", "object"};
  return names[static_cast<int>(t)];
}

static constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

bool Json::is_index() const {
  if (!is_number()) return false;
  double x = std::get<double>(v_);
  return x >= 0 && x <= kMaxExactInteger && x == std::floor(x);
}

template <class T, class Variant>
static const T& get_as(const Variant& v, Json::Type want) {
  if (auto* p = std::get_if<T>(&v)) return *p;
  throw std::runtime_error(std::string("JSON: expected ") + json_type_name(want) + ", found " +
                           json_type_name(static_cast<Json::Type>(v.index())));
}

bool Json::as_bool() const { return get_as<bool>(v_, Type::Bool); }
double Json::as_number() const { return get_as<double>(v_, Type::Number); }
const std::string& Json::as_string() const { return get_as<std::string>(v_, Type::String); }
const Json::Array& Json::as_array() const { return get_as<Array>(v_, Type::Array); }
const Json::Object& Json::as_object() const { return get_as<Object>(v_, Type::Object); }
Json::Array& Json::as_array() { return const_cast<Array&>(std::as_const(*this).as_array()); }
Json::Object& Json::as_object() { return const_cast<Object&>(std::as_const(*this).as_object()); }

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_))
    if (k == key) return &v;
  return nullptr;
}

Json& Json::set(std::string key, Json value) {
  if (is_null()) v_ = Object{};
  Object& o = as_object();
  for (auto& [k, v] : o)  // an existing key is replaced, keeping its place
    if (k == key) return v = std::move(value);
  o.emplace_back(std::move(key), std::move(value));
  return o.back().second;
}

// ---- parsing ----

namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Json document() {
    Json v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;  // bounds the recursion, so hostile input can't overflow the stack
  std::string_view s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(pos_));
  }
  bool at_end() const { return pos_ >= s_.size(); }
  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (at_end() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(at_end() ? std::string("unexpected end of input, expected '") + c + "'"
                               : std::string("expected '") + c + "'");
  }

  Json value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 256 levels");
    skip_ws();
    if (at_end()) fail("unexpected end of input");
    char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (literal("true")) return true;
    if (literal("false")) return false;
    if (literal("null")) return nullptr;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
    fail(std::string("unexpected character ") + hex);
  }

  bool literal(std::string_view word) {
    if (!s_.substr(pos_).starts_with(word)) return false;
    pos_ += word.size();
    return true;
  }

  Json object(int depth) {
    ++pos_;  // '{'
    Json::Object obj;
    std::unordered_set<std::string> seen;
    if (eat('}')) return obj;
    do {
      skip_ws();
      if (at_end() || s_[pos_] != '"') fail("expected a string key");
      size_t key_at = pos_;
      std::string key = string();
      if (!seen.insert(key).second) {
        pos_ = key_at;
        fail("duplicate key \"" + key + "\"");
      }
      expect(':');
      obj.emplace_back(std::move(key), value(depth + 1));
    } while (eat(','));
    expect('}');
    return obj;
  }

  Json array(int depth) {
    ++pos_;  // '['
    Json::Array arr;
    if (eat(']')) return arr;
    do arr.push_back(value(depth + 1));
    while (eat(','));
    expect(']');
    return arr;
  }

  // Checks the RFC 8259 grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? (from_chars alone
  // would accept "01" or "1."), then converts with from_chars, which is exact and locale-free.
  Json number() {
    size_t start = pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == d) fail("expected a digit");
      return pos_ - d;
    };
    if (s_[pos_] == '-') ++pos_;
    size_t int_at = pos_;
    if (digits() > 1 && s_[int_at] == '0') fail("leading zero in number");
    if (!at_end() && s_[pos_] == '.') {
      ++pos_;
      digits();
    }
    if (!at_end() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (!at_end() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      digits();
    }
    double x = 0;
    auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, x);
    if (ec != std::errc() || end != s_.data() + pos_) {
      pos_ = start;
      fail("number out of range");
    }
    return x;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      unsigned char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c == '\\') {
        escape(out);
      } else if (c < 0x80) {
        out += char(c);
        ++pos_;
      } else {
        utf8_sequence(out);
      }
    }
  }

  void escape(std::string& out) {
    if (++pos_ >= s_.size()) fail("unterminated string");
    char e = s_[pos_++];
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': unicode_escape(out); break;
      default:
        --pos_;
        fail("invalid escape sequence");
    }
  }

  uint32_t hex4() {
    if (s_.size() - pos_ < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, v, 16);
    if (ec != std::errc() || end != s_.data() + pos_ + 4) fail("invalid \\u escape");
    pos_ += 4;
    return v;
  }

  // \uXXXX, where a UTF-16 surrogate pair encodes a code point above U+FFFF.
  void unicode_escape(std::string& out) {
    uint32_t cp = hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (!s_.substr(pos_).starts_with("\\u")) fail("high surrogate not followed by a low surrogate");
      pos_ += 2;
      uint32_t lo = hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    append_utf8(out, cp);
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    static constexpr unsigned char lead[] = {0x00, 0xC0, 0xE0, 0xF0};
    int extra = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;  // continuation bytes
    out += char(lead[extra] | (cp >> (6 * extra)));
    for (int i = extra - 1; i >= 0; --i) out += char(0x80 | ((cp >> (6 * i)) & 0x3F));
  }

  // Copies one multi-byte UTF-8 sequence after checking it is well formed: a valid lead byte,
  // continuation bytes, no overlong encoding, no surrogate, nothing above U+10FFFF.
  void utf8_sequence(std::string& out) {
    unsigned char lead = s_[pos_];
    if (lead < 0xC2 || lead > 0xF4) fail("invalid UTF-8");
    size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (s_.size() - pos_ < len) fail("truncated UTF-8 sequence");
    uint32_t cp = lead & (0x7F >> len);
    for (size_t i = 1; i < len; ++i) {
      unsigned char b = s_[pos_ + i];
      if ((b & 0xC0) != 0x80) fail("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) fail("invalid UTF-8");
    out.append(s_.substr(pos_, len));
    pos_ += len;
  }
};

}  // namespace

Json parse_json(std::string_view text) { return Parser(text).document(); }

// ---- serialization ----

static void write_number(double x, std::string& out) {
  if (!std::isfinite(x)) throw std::runtime_error("JSON: cannot write a non-finite number");
  char buf[32];
  if (x == std::floor(x) && std::fabs(x) <= kMaxExactInteger && !(x == 0 && std::signbit(x))) {
    out += std::to_string(static_cast<long long>(x));  // integers as integers: "3", not "3e+00"
  } else {
    auto res = std::to_chars(buf, buf + sizeof buf, x);  // shortest text that reads back exactly
    out.append(buf, res.ptr);
  }
}

static void write_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
}

static void write_value(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::Type::Null: out += "null"; break;
    case Json::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Json::Type::Number: write_number(v.as_number(), out); break;
    case Json::Type::String: write_string(v.as_string(), out); break;
    case Json::Type::Array: {
      out += '[';
      for (size_t i = 0; i < v.as_array().size(); ++i) {
        if (i) out += ',';
        write_value(v.as_array()[i], out);
      }
      out += ']';
      break;
    }
    case Json::Type::Object: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.as_object()) {
        if (!first) out += ',';
        first = false;
        write_string(k, out);
        out += ':';
        write_value(x, out);
      }
      out += '}';
      break;
    }
  }
}

std::string to_json(const Json& value) {
  std::string out;
  write_value(value, out);
  return out;
}

}  // namespace fm
