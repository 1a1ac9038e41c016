// pipeline/config.cpp — layered experiment configuration (defaults < --config < --set < --seed)
// over toml++ tables. Every key must exist in the task's defaults, and a value keeps the type of
// its default (ints widen to floats; integral floats narrow to ints), so a typo or a wrong type is
// one clear input error instead of a silently ignored setting. The resolved document is written
// by its own small TOML writer so floats come out in their shortest round-trip form (0.8, not
// toml++'s 17-digit 0.80000000000000004).
#include "pipeline/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/names.h"
#include "core/printable.h"
#include "io/atomic_file.h"
#include "io/csv.h"

namespace hmr::pipeline {

namespace defaults {
extern const std::string_view easy, medium, hard;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    parts.emplace_back(key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

const char* type_name(const toml::node& n) {
  using T = toml::node_type;
  static constexpr std::pair<T, const char*> kNames[] = {{T::table, "a section"},         {T::array, "an array"},
                                                         {T::string, "a string"},         {T::integer, "an integer"},
                                                         {T::floating_point, "a number"}, {T::boolean, "true/false"}};
  for (const auto& [type, name] : kNames)
    if (n.type() == type) return name;
  return "a date/time";
}

// The node at a dotted key, or nullptr.
const toml::node* find(const toml::table& root, std::string_view key) {
  const toml::node* cur = &root;
  for (const std::string& part : split_key(key)) {
    const toml::table* t = cur->as_table();
    if (!t) return nullptr;
    cur = t->get(part);
    if (!cur) return nullptr;
  }
  return cur;
}

// A copy of `value` converted to the type of `def`, or nullopt when it cannot be.
std::optional<std::unique_ptr<toml::node>> coerce(const toml::node& def, const toml::node& value) {
  using R = std::optional<std::unique_ptr<toml::node>>;
  switch (def.type()) {
    case toml::node_type::integer:
      if (auto i = value.as_integer()) return R(std::make_unique<toml::value<std::int64_t>>(i->get()));
      if (auto f = value.as_floating_point()) {
        const double d = f->get();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
          return R(std::make_unique<toml::value<std::int64_t>>(static_cast<std::int64_t>(d)));
      }
      return std::nullopt;
    case toml::node_type::floating_point:
      if (auto f = value.as_floating_point()) return R(std::make_unique<toml::value<double>>(f->get()));
      if (auto i = value.as_integer()) return R(std::make_unique<toml::value<double>>(static_cast<double>(i->get())));
      return std::nullopt;
    case toml::node_type::boolean:
      if (auto b = value.as_boolean()) return R(std::make_unique<toml::value<bool>>(b->get()));
      return std::nullopt;
    case toml::node_type::string:
      if (auto s = value.as_string()) return R(std::make_unique<toml::value<std::string>>(s->get()));
      return std::nullopt;
    case toml::node_type::array: {
      const toml::array* want = def.as_array();
      const toml::array* got = value.as_array();
      if (!got) return std::nullopt;
      auto out = std::make_unique<toml::array>();
      // The element type is that of the default's elements (an empty default takes anything).
      const toml::node* elem_def = want->empty() ? nullptr : want->get(0);
      for (const toml::node& e : *got) {
        if (!elem_def) {
          out->push_back(e);
          continue;
        }
        auto c = coerce(*elem_def, e);
        if (!c) return std::nullopt;
        if (auto i = (*c)->as_integer())
          out->push_back(i->get());
        else if (auto f = (*c)->as_floating_point())
          out->push_back(f->get());
        else if (auto b = (*c)->as_boolean())
          out->push_back(b->get());
        else if (auto s = (*c)->as_string())
          out->push_back(s->get());
        else
          return std::nullopt;
      }
      return R(std::move(out));
    }
    default:
      return std::nullopt;
  }
}

void collect_leaves(const toml::table& t, const std::string& prefix,
                    std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table())
      collect_leaves(*sub, key, out);
    else
      out.emplace_back(key, &v);
  }
}

// The reference tools' parameter names (scikit-learn, librosa, openTSNE, PyTorch) and hmr's flag
// spellings, accepted as key names beside hmr's canonical ones. An alias applies in any section
// that has the canonical key and not the alias itself: `learning_rate` is `lr` in a VAE section but
// stays itself in [tsne], and `max_iter` is `iters` in [tsne] but itself in [kmeans]. The resolved
// config.toml is written with the canonical names only.
constexpr std::pair<std::string_view, std::string_view> kKeyAliases[] = {
    {"random_state", "seed"},                   // sklearn
    {"n_clusters", "k"},                        // sklearn KMeans
    {"sr", "sample_rate"},                      // librosa, hmr mfcc --sr
    {"early_exaggeration", "early_exag"},       // openTSNE, sklearn TSNE
    {"early_exaggeration_iter", "exag_iters"},  // openTSNE
    {"max_iter", "iters"},                      // sklearn TSNE (iterations in total, like iters)
    {"angle", "theta"},                         // sklearn TSNE
    {"n_components", "components"},             // sklearn PCA
    {"svd_solver", "solver"},                   // sklearn PCA
    {"batch_size", "batch"},                    // PyTorch DataLoader, hmr train --batch-size
    {"learning_rate", "lr"},                    // hmr train --learning-rate
    {"warmup", "warmup_epochs"},                // hmr train --warmup
    {"sample_size", "silhouette_sample_size"},  // sklearn silhouette_score, hmr metrics --sample-size
};

// `key` itself when it exists, else the canonical key it is an alias of, else `key` unchanged.
std::string canonical_key(const toml::table& root, const std::string& key) {
  if (find(root, key)) return key;
  const std::size_t dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? std::string() : key.substr(0, dot + 1);
  const std::string_view leaf =
      dot == std::string::npos ? std::string_view(key) : std::string_view(key).substr(dot + 1);
  for (const auto& [alias, canonical] : kKeyAliases)
    if (leaf == alias && find(root, section + std::string(canonical))) return section + std::string(canonical);
  return key;
}

// What a value must look like to replace `def`, for "expected ..." errors.
std::string expected_type(const toml::node& def) {
  if (const toml::array* a = def.as_array()) {
    if (a->empty()) return "a list";
    const toml::node& e = *a->get(0);
    return e.is_integer()  ? "a list of integers (512,256)"
           : e.is_number() ? "a list of numbers"
           : e.is_string() ? "a list of words (a,b)"
                           : "a list";
  }
  return def.is_integer()          ? "an integer"
         : def.is_floating_point() ? "a number"
         : def.is_boolean()        ? "true or false"
         : def.is_string()         ? "a string"
                                   : type_name(def);
}

toml::table parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    input_error("{}:{}:{}: invalid TOML: {}", printable(source), e.source().begin.line, e.source().begin.column,
                printable(e.description()));
  }
}

}  // namespace

const char* to_string(Task t) {
  static constexpr const char* kNames[] = {"easy", "medium", "hard"};
  const auto i = static_cast<std::size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string_view Config::default_text(Task task) {
  switch (task) {
    case Task::easy:
      return defaults::easy;
    case Task::medium:
      return defaults::medium;
    case Task::hard:
      return defaults::hard;
  }
  return {};
}

Config Config::defaults(Task task) {
  return Config(task, parse_toml(default_text(task), fmt::format("<defaults of {}>", to_string(task))));
}

Config Config::resolve(Task task, const std::filesystem::path& file, const std::vector<std::string>& sets,
                       std::optional<std::uint64_t> seed) {
  Config c = defaults(task);
  if (!file.empty()) c.merge_file(file);
  c.set_all(sets);
  if (seed) c.set_seed(*seed);
  c.validate();
  return c;
}

void Config::assign(std::string_view key_as_given, const toml::node& value, std::string_view origin) {
  const std::string canonical = canonical_key(root_, std::string(key_as_given));
  const std::string_view key = canonical;
  const toml::node* def = find(root_, key);
  if (!def) {
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collect_leaves(root_, "", leaves);
    std::vector<std::string> names;
    for (const auto& leaf : leaves) names.push_back(leaf.first);
    const std::string guess = closest_name(key, names);
    if (!guess.empty())
      input_error("{}: unknown configuration key '{}' for hmr {} (did you mean '{}'?)", printable(origin),
                  printable(key), to_string(task_), guess);
    // Name the section's keys so the user sees what was meant.
    const auto parts = split_key(key);
    std::string known;
    const toml::node* sec = parts.size() > 1 ? find(root_, key.substr(0, key.rfind('.'))) : &root_;
    if (sec && sec->as_table())
      for (const auto& [k, v] : *sec->as_table()) known += (known.empty() ? "" : ", ") + std::string(k.str());
    input_error("{}: unknown configuration key '{}' for hmr {}{}", printable(origin), printable(key), to_string(task_),
                known.empty() ? std::string() : fmt::format(" (keys here: {})", known));
  }
  HMR_REQUIRE(!def->is_table(), "{}: '{}' is a section, not a value", printable(origin), key);
  // tsne.learning_rate = "auto" is openTSNE's and sklearn's spelling of hmr's 0.
  const bool auto_rate = key == "tsne.learning_rate" && value.is_string() && value.as_string()->get() == "auto";
  auto converted = auto_rate ? std::optional<std::unique_ptr<toml::node>>(std::make_unique<toml::value<double>>(0.0))
                             : coerce(*def, value);
  // tfidf.min_df / max_df keep their own numeric type: an integer is a document count, a float a
  // share of the documents (scikit-learn's int-or-float semantics).
  if ((key == "tfidf.min_df" || key == "tfidf.max_df") && (value.is_integer() || value.is_floating_point())) {
    if (auto i = value.as_integer())
      converted = std::make_unique<toml::value<std::int64_t>>(i->get());
    else
      converted = std::make_unique<toml::value<double>>(value.as_floating_point()->get());
  }
  if (!converted.has_value()) {
    // --set names the key already: "--set vae.epochs=1.5: expected an integer (got a number)".
    if (origin.substr(0, 5) == "--set")
      input_error("{}: expected {} (got {})", printable(origin), expected_type(*def), type_name(value));
    input_error("{}: '{}' must be {} (got {})", printable(origin), key, expected_type(*def), type_name(value));
  }
  // Values are names, words and paths: a control character is always a mistake, and a line break
  // does not survive config.toml (toml++ writes it as a multi-line string, whose first newline
  // TOML drops on reading), so the resolved file would not repeat the run.
  const auto has_control = [](const toml::node& n) {
    const auto bad = [](const std::string& t) {
      return std::any_of(t.begin(), t.end(), [](char c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F; });
    };
    if (auto str = n.as_string()) return bad(str->get());
    if (auto arr = n.as_array())
      for (const toml::node& e : *arr)
        if (auto str = e.as_string(); str && bad(str->get())) return true;
    return false;
  };
  HMR_REQUIRE(!has_control(**converted), "{}: '{}' holds a control character (a line break?), which no setting takes",
              printable(origin), key);
  const auto parts = split_key(key);
  toml::table* parent = &root_;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) parent = (*parent)[parts[i]].as_table();
  HMR_ASSERT(parent != nullptr, "config parent of {} vanished", key);
  const std::unique_ptr<toml::node> v = std::move(*converted);
  if (auto i = v->as_integer())
    parent->insert_or_assign(parts.back(), i->get());
  else if (auto f = v->as_floating_point())
    parent->insert_or_assign(parts.back(), f->get());
  else if (auto b = v->as_boolean())
    parent->insert_or_assign(parts.back(), b->get());
  else if (auto s = v->as_string())
    parent->insert_or_assign(parts.back(), s->get());
  else if (auto a = v->as_array())
    parent->insert_or_assign(parts.back(), *a);
}

void Config::merge_file(const std::filesystem::path& path) {
  std::error_code ec;
  HMR_REQUIRE(std::filesystem::is_regular_file(path, ec), "--config {}: no such file", path.string());
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "--config {}: cannot read the file", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  merge_text(ss.str(), path.string());
}

void Config::merge_text(std::string_view text, const std::string& source) {
  const toml::table t = parse_toml(text, source);
  std::vector<std::pair<std::string, const toml::node*>> leaves;
  collect_leaves(t, "", leaves);
  for (const auto& [key, node] : leaves) assign(key, *node, fmt::format("--config {}", source));
}

void Config::set(std::string_view assignment) {
  const std::size_t eq = assignment.find('=');
  HMR_REQUIRE(eq != std::string_view::npos && eq > 0, "--set {}: expected section.key=value", printable(assignment));
  // TOML text is UTF-8: a bare string or a bare list of words that is not would be written into
  // config.toml and make it unreadable (both found by fuzz_config).
  HMR_REQUIRE(io::find_invalid_utf8(assignment) == std::string_view::npos, "--set {}: the value is not valid UTF-8",
              printable(assignment));
  const std::string key = canonical_key(root_, std::string(trim(assignment.substr(0, eq))));
  const std::string_view raw = trim(assignment.substr(eq + 1));
  const std::string origin = fmt::format("--set {}", assignment);
  const toml::node* def = find(root_, key);
  // An unknown key is reported as such (with a guess), whatever the value looks like.
  if (!def) assign(key, toml::value<bool>(false), origin);  // throws: unknown key, with a guess
  if (def->is_string() && (raw.empty() || raw.front() != '"')) {
    // Strings may be written bare: --set tfidf.token_mode=sklearn
    assign(key, toml::value<std::string>(std::string(raw)), origin);
    return;
  }
  std::string doc = "v = ";
  if (def->is_array() && (raw.empty() || raw.front() != '['))
    doc += "[" + std::string(raw) + "]";  // --set vae.hidden=512,256
  else
    doc += std::string(raw);
  toml::table parsed;
  try {
    parsed = toml::parse(std::string_view(doc), std::string_view("--set"));
  } catch (const toml::parse_error& e) {
    const toml::array* list = def->as_array();
    if (list && (list->empty() || list->get(0)->is_string()) && (raw.empty() || raw.front() != '[')) {
      // Bare words in a list: --set tfidf.stop_words=english,bangla
      toml::array words;
      std::size_t start = 0;
      while (start <= raw.size()) {
        const std::size_t comma = std::min(raw.find(',', start), raw.size());
        const std::string_view w = trim(raw.substr(start, comma - start));
        if (!w.empty()) words.push_back(std::string(w));
        start = comma + 1;
      }
      assign(key, words, origin);
      return;
    }
    if (key == "tsne.learning_rate" && raw == "auto") {
      assign(key, toml::value<std::string>("auto"), origin);
      return;
    }
    // The value is not TOML of any type (ten, yes, 1e): say what the key takes, not what the
    // TOML parser guessed from the first letter ("Error while parsing boolean").
    input_error("{}: expected {}", printable(origin),
                key == "tsne.learning_rate" ? "a number or auto" : expected_type(*def));
  }
  const toml::node* v = parsed.get("v");
  HMR_REQUIRE(v != nullptr, "{}: missing value", printable(origin));
  assign(key, *v, origin);
}

void Config::set_all(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) set(a);
}

void Config::set_seed(std::uint64_t seed) {
  HMR_REQUIRE(seed <= static_cast<std::uint64_t>(INT64_MAX), "--seed {}: must be below 2^63", seed);
  assign("experiment.seed", toml::value<std::int64_t>(static_cast<std::int64_t>(seed)), "--seed");
}

bool Config::has(std::string_view key) const { return find(root_, key) != nullptr; }

namespace {
const toml::node& need(const toml::table& root, std::string_view key) {
  const toml::node* n = find(root, key);
  HMR_REQUIRE(n != nullptr, "configuration key '{}' is missing", key);
  return *n;
}
}  // namespace

std::int64_t Config::get_int(std::string_view key) const {
  const toml::node& n = need(root_, key);
  auto v = n.as_integer();
  HMR_REQUIRE(v != nullptr, "configuration key '{}' must be an integer", key);
  return v->get();
}

double Config::get_double(std::string_view key) const {
  const toml::node& n = need(root_, key);
  if (auto f = n.as_floating_point()) return f->get();
  if (auto i = n.as_integer()) return static_cast<double>(i->get());
  input_error("configuration key '{}' must be a number", key);
}

bool Config::get_bool(std::string_view key) const {
  const toml::node& n = need(root_, key);
  auto v = n.as_boolean();
  HMR_REQUIRE(v != nullptr, "configuration key '{}' must be true or false", key);
  return v->get();
}

std::string Config::get_string(std::string_view key) const {
  const toml::node& n = need(root_, key);
  auto v = n.as_string();
  HMR_REQUIRE(v != nullptr, "configuration key '{}' must be a string", key);
  return v->get();
}

std::vector<std::int64_t> Config::get_int_array(std::string_view key) const {
  const toml::node& n = need(root_, key);
  auto a = n.as_array();
  HMR_REQUIRE(a != nullptr, "configuration key '{}' must be an array", key);
  std::vector<std::int64_t> out;
  for (const toml::node& e : *a) {
    auto i = e.as_integer();
    HMR_REQUIRE(i != nullptr, "configuration key '{}' must be an array of integers", key);
    out.push_back(i->get());
  }
  return out;
}

std::vector<double> Config::get_double_array(std::string_view key) const {
  const toml::node& n = need(root_, key);
  auto a = n.as_array();
  HMR_REQUIRE(a != nullptr, "configuration key '{}' must be an array", key);
  std::vector<double> out;
  for (const toml::node& e : *a) {
    if (auto f = e.as_floating_point())
      out.push_back(f->get());
    else if (auto i = e.as_integer())
      out.push_back(static_cast<double>(i->get()));
    else
      input_error("configuration key '{}' must be an array of numbers", key);
  }
  return out;
}

const toml::table& Config::table(std::string_view section) const {
  const toml::node& n = need(root_, section);
  auto t = n.as_table();
  HMR_REQUIRE(t != nullptr, "configuration key '{}' must be a section", section);
  return *t;
}

std::string toml_float(double v) {
  if (std::isnan(v)) return std::signbit(v) ? "-nan" : "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  // std::to_chars without a precision gives the shortest text that parses back to exactly v.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string text(buf, res.ptr);
  // "1" or "1e+20" would read back as an integer or be rejected; TOML floats need a '.' or an 'e',
  // and an exponent needs digits before it ("1.0e+20" is not required: "1e+20" is a TOML float).
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

namespace {

// A bare key when TOML allows one (A-Z a-z 0-9 _ -), else a quoted one (toml++ escapes it).
void write_key(std::ostream& os, const std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
  if (bare)
    os << key;
  else
    os << toml::value<std::string>(std::string(key));
}

// A value: floats by toml_float (also inside arrays and inline tables), everything else as
// toml++ writes it (strings escaped, integers, booleans, dates).
void write_value(std::ostream& os, const toml::node& n) {
  if (const auto* f = n.as_floating_point()) {
    os << toml_float(f->get());
  } else if (const auto* a = n.as_array()) {
    if (a->empty()) {
      os << "[]";
      return;
    }
    os << "[ ";
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i) os << ", ";
      write_value(os, *a->get(i));
    }
    os << " ]";
  } else if (const auto* t = n.as_table()) {
    os << "{ ";
    bool first = true;
    for (const auto& [k, v] : *t) {
      if (!first) os << ", ";
      first = false;
      write_key(os, k.str());
      os << " = ";
      write_value(os, v);
    }
    os << (first ? "}" : " }");
  } else {
    n.visit([&os](const auto& v) { os << v; });
  }
}

// Plain keys of a table, then each sub-table under its [dotted.header], in the table's (sorted)
// key order, as toml++ lays a document out.
void write_table(std::ostream& os, const toml::table& t, const std::string& header) {
  for (const auto& [k, v] : t) {
    if (v.is_table()) continue;
    write_key(os, k.str());
    os << " = ";
    write_value(os, v);
    os << "\n";
  }
  for (const auto& [k, v] : t) {
    if (!v.is_table()) continue;
    std::ostringstream key;
    write_key(key, k.str());
    const std::string name = header.empty() ? key.str() : header + "." + key.str();
    os << "\n[" << name << "]\n";
    write_table(os, *v.as_table(), name);
  }
}

}  // namespace

std::string toml_text(const toml::table& t) {
  std::ostringstream os;
  write_table(os, t, "");
  std::string text = os.str();
  if (!text.empty() && text.front() == '\n') text.erase(0, 1);  // no blank line before the first [header]
  return text;
}

std::string Config::to_toml() const {
  std::ostringstream os;
  os << "# hmr " << to_string(task_) << " — the resolved configuration of this run (hmr " << HMR_VERSION << ").\n"
     << "# Repeat the run with: hmr " << to_string(task_) << " --config config.toml <inputs> --out DIR\n\n"
     << toml_text(root_);
  return os.str();
}

void Config::write(const std::filesystem::path& path) const {
  const std::string text = to_toml();
  io::write_atomically(path, [&](std::ostream& os) { os << text; });
}

}  // namespace hmr::pipeline
