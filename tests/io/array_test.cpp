// tests/io/array_test.cpp — io::read_array / read_label_array (the entry point of every command's
// array input) on files numpy and pandas wrote themselves: tests/fixtures/gen_arrays.py writes
// them with the values numpy makes of each (np.asarray(a, float32).reshape(len(a), -1)) and the
// list of cases (cases.txt). Values must match exactly (atol 0, rtol 0: every conversion here is
// exact in float32, or is the same double -> float rounding numpy does); the conversion note must
// name what was converted; refused inputs must be one-line input errors saying why.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/array.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/errors.h"
#include "support/files.h"
#include "support/run.h"

namespace {

namespace fs = std::filesystem;

// The info lines logged while alive (the conversion notes), instead of the default logger's.
struct NoteCapture {
  std::ostringstream os;
  std::shared_ptr<spdlog::logger> old = spdlog::default_logger();
  NoteCapture() {
    auto l = std::make_shared<spdlog::logger>("array_test", std::make_shared<spdlog::sinks::ostream_sink_st>(os));
    l->set_level(spdlog::level::info);
    l->set_pattern("%v");
    spdlog::set_default_logger(l);
  }
  ~NoteCapture() { spdlog::set_default_logger(old); }
};

struct Expected {
  long rows = 0, cols = 0;
  std::vector<float> values;
};

Expected read_expected(const std::string& file) {
  std::ifstream in(file);
  Expected e;
  in >> e.rows >> e.cols;
  std::string v;
  while (in >> v) e.values.push_back(std::strtof(v.c_str(), nullptr));
  EXPECT_EQ(static_cast<long>(e.values.size()), e.rows * e.cols) << file;
  return e;
}

struct Case {
  std::vector<std::string> words;
};

std::vector<Case> cases() {
  std::ifstream in(hmr::test::fixture("arrays/cases.txt"));
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    Case c;
    for (std::string w; ls >> w;) c.words.push_back(w);
    if (!c.words.empty()) out.push_back(c);
  }
  return out;
}

std::string dir() { return hmr::test::fixture("arrays") + "/"; }

TEST(ArrayInput, EveryNumpyAndPandasRouteReadsAsNumpyDoes) {
  const auto all = cases();
  ASSERT_GE(all.size(), 40u) << "tests/fixtures/arrays/cases.txt missing: run tests/fixtures/gen_arrays.py";
  int checked = 0;
  for (const auto& c : all) {
    if (c.words[0] == "error") continue;
    SCOPED_TRACE(c.words[1]);
    const std::string spec = dir() + c.words[1];
    const Expected e = read_expected(dir() + c.words[2]);
    NoteCapture notes;
    std::vector<float> got;
    long rows = 0, cols = 0;
    if (c.words[0] == "matrix") {
      const hmr::Matrix m = hmr::io::read_array(spec, "--input");
      rows = m.rows();
      cols = m.cols();
      got.assign(m.data(), m.data() + m.size());
    } else {
      const auto l = hmr::io::read_label_array(spec, "--labels");
      rows = static_cast<long>(l.size());
      cols = 1;
      got.assign(l.begin(), l.end());
    }
    EXPECT_EQ(rows, e.rows);
    EXPECT_EQ(cols, e.cols);
    // |got - want| <= 0 + 0 |want|: exact; all_close names the worst element on failure.
    EXPECT_ALLCLOSE(got, e.values, 0.0, 0.0);
    const std::string note = notes.os.str();
    for (std::size_t k = 3; k < c.words.size(); ++k)
      EXPECT_NE(note.find(c.words[k]), std::string::npos) << "note lacks '" << c.words[k] << "': " << note;
    if (c.words.size() == 3 && c.words[1].find(".csv") == std::string::npos) {
      EXPECT_EQ(note, "") << "a float32 matrix or integer labels need no note";
    }
    EXPECT_EQ(std::count(note.begin(), note.end(), '\n'), note.empty() ? 0 : 1) << "one line: " << note;
    ++checked;
  }
  std::printf("[ INFO     ] %d array files written by numpy/pandas read as numpy reads them\n", checked);
}

TEST(ArrayInput, RefusedInputsSayWhy) {
  int checked = 0;
  for (const auto& c : cases()) {
    if (c.words[0] != "error") continue;
    SCOPED_TRACE(c.words[2]);
    const std::string spec = dir() + c.words[2];
    std::string want = c.words[3];
    std::replace(want.begin(), want.end(), '_', ' ');
    const std::string msg = hmr::test::input_error_of([&] {
      if (c.words[1] == "matrix")
        (void)hmr::io::read_array(spec, "--input");
      else
        (void)hmr::io::read_label_array(spec, "--labels");
    });
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.words[2].substr(0, c.words[2].find(':'))), std::string::npos) << "names the file: " << msg;
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

TEST(ArrayInput, ArrayFileStripsTheMemberOnlyWhenThePathIsNotAFile) {
  EXPECT_EQ(hmr::io::array_file(dir() + "named.npz:X"), fs::path(dir() + "named.npz"));
  EXPECT_EQ(hmr::io::array_file(dir() + "colon:name.npy"), fs::path(dir() + "colon:name.npy"));
  EXPECT_EQ(hmr::io::array_file(""), fs::path());
}

TEST(ArrayInput, NumericCsvEdgeCases) {
  std::vector<std::string> notes;
  // One integer column with a data first line: no header (np.savetxt of labels).
  auto a = hmr::io::parse_numeric_csv("0\n1\n2\n", "t.csv", false, &notes);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 1}));
  EXPECT_TRUE(notes.empty());
  // A ;-separated file is named as such.
  const std::string msg =
      hmr::test::input_error_of([] { (void)hmr::io::parse_numeric_csv("a;b\n1;2\n", "s.csv", false, nullptr); });
  EXPECT_NE(msg.find("separated"), std::string::npos) << msg;
  // Ragged rows: line and widths.
  const std::string ragged =
      hmr::test::input_error_of([] { (void)hmr::io::parse_numeric_csv("a,b\n1,2\n3\n", "r.csv", false, nullptr); });
  EXPECT_NE(ragged.find("line 3 has 1 fields"), std::string::npos) << ragged;
  // Missing values are NaN when the caller allows non-finite values.
  a = hmr::io::parse_numeric_csv("a,b\n1,\n", "n.csv", true, nullptr);
  double v[2];
  std::memcpy(v, a.bytes.data(), 16);
  EXPECT_EQ(v[0], 1.0);
  EXPECT_TRUE(std::isnan(v[1]));
}

// The commands take the same forms: kmeans on an .npz member and a pandas CSV, metrics with
// labels from a pandas Series CSV, tsne refusing a label file with a clear line.
TEST(E2eArrayInput, CommandsReadNpzMembersAndCsv) {
  hmr::test::ScratchDir tmp("array_e2e");
  const std::string out = (tmp.p / "labels.npy").string();
  auto r = hmr::test::run_hmr("kmeans -i '" + dir() + "named.npz:X' --k 2 --out '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Fortran order -> C order"), std::string::npos) << r.output;
  EXPECT_EQ(hmr::io::read_labels(out).size(), 6u);
  r = hmr::test::run_hmr("kmeans -i '" + dir() + "pandas_index.csv' --k 2 --out '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("pandas' unnamed index"), std::string::npos) << r.output;
  r = hmr::test::run_hmr("metrics -i '" + dir() + "named.npz:X' --pred '" + out + "' --truth '" + dir() +
                         "named.npz:y'");
  EXPECT_EQ(r.code, 0) << r.output;
  r = hmr::test::run_hmr("kmeans -i '" + dir() + "named.npz' --k 2 --out '" + out + "'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("holds 2 arrays (X, y)"), std::string::npos) << r.output;
}

}  // namespace
