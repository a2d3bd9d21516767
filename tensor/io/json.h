// tensor/io/json.h: a small JSON value type, a strict parser and a compact serializer.
//
// Used for the safetensors header and for run metadata. Numbers are doubles, so integers up to
// 2^53 round-trip exactly (they are written without a decimal point). Objects keep their keys in
// insertion order; the parser rejects duplicate keys (a file that names a tensor twice is
// ambiguous, so we refuse it rather than silently keep one).
#pragma once
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fm {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // insertion order
  enum class Type { Null, Bool, Number, String, Array, Object };

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(double x) : v_(x) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Json(T x) : v_(double(x)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  // A number with no fractional part in [0, 2^53]: a size or an offset.
  bool is_index() const;

  // Typed access; throws std::runtime_error naming the expected and the actual type.
  bool as_bool() const;
  double as_number() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;
  Array& as_array();
  Object& as_object();

  // Object lookup (linear); nullptr if this is not an object or the key is absent.
  const Json* find(std::string_view key) const;
  // Sets a key of an object, replacing an existing one (a null becomes an empty object first).
  Json& set(std::string key, Json value);

 private:
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v_;
};

const char* json_type_name(Json::Type t);  // "null", "bool", "number", ...

// Parses one JSON value (surrounded by optional whitespace). Errors throw std::runtime_error
// "JSON: <problem> at byte <offset>". Nesting deeper than 256 levels is rejected.
Json parse_json(std::string_view text);

// Compact serialization (no spaces). Throws on NaN or infinite numbers, which JSON cannot hold.
std::string to_json(const Json& value);

}  // namespace fm
