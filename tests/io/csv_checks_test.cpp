// io/csv_checks_test.cpp — the CSV reader's help for consumers (issue 17): a short row is "line N
// has K fields, the header has M" where a field is needed, a ;- or tab-separated file is named
// as such, and the invalid-UTF-8 error advises a lossy flag only when the caller has one.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/csv.h"
#include "support/errors.h"

using hmr::test::input_error_of;
namespace {

using hmr::io::CsvOptions;
using hmr::io::parse_csv;

TEST(CsvChecks, NeedNamesTheShortLineAndBothWidths) {
  const auto t = parse_csv("a,b,c\n1,2,3\n4\n5,6,\n", {}, "f.csv");
  EXPECT_EQ(t.widths, (std::vector<std::size_t>{3, 1, 3}));
  EXPECT_EQ(t.need(0, 2), "3");
  EXPECT_EQ(t.need(2, 2), "");  // written, just empty: an empty cell, not a short row
  EXPECT_EQ(t.at(1, 2), "");    // at() still pads, for consumers that treat a missing field as empty
  const std::string msg = input_error_of([&] { t.need(1, 1); });
  EXPECT_EQ(msg, "f.csv: line 3 has 1 field, the header has 3 (no value for column 'b')");
}

TEST(CsvChecks, SemicolonOrTabSeparatedHeaderIsNamedWhereAColumnIsMissing) {
  const auto semi = parse_csv("id;audio;label\nx;a.wav;rock\n", {}, "s.csv");
  std::string msg = input_error_of([&] { semi.column("audio"); });
  EXPECT_NE(msg.find("s.csv: no column named 'audio'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the file looks ;-separated: hmr reads comma-separated CSV (RFC 4180)"), std::string::npos) << msg;
  const auto tab = parse_csv("id\taudio\nx\ta.wav\n", {}, "t.tsv");
  msg = input_error_of([&] { tab.column("audio"); });
  EXPECT_NE(msg.find("looks tab-separated"), std::string::npos) << msg;
  // Decimal commas in a ;-separated file: more fields than the one-column header.
  msg = input_error_of([] { parse_csv("x;y\n0,5;1,2\n", {}, "d.csv"); });
  EXPECT_NE(msg.find("d.csv: line 2: 3 fields, but the header has 1; the file looks ;-separated"), std::string::npos)
      << msg;
  // Comma-separated headers, or a single column without either character, get no hint.
  EXPECT_EQ(parse_csv("a,b\n1,2\n").delimiter_hint(), "");
  EXPECT_EQ(parse_csv("lyrics\nla la\n").delimiter_hint(), "");
  EXPECT_EQ(parse_csv("a,b;c\n1,2\n").delimiter_hint(), "");
}

TEST(CsvChecks, InvalidUtf8AdvisesALossyFlagOnlyWhenTheCallerHasOne) {
  const std::string text = "a,b\n1,\xFF\n";
  std::string msg = input_error_of([&] { parse_csv(text, {}, "bad.csv"); });
  EXPECT_NE(msg.find("bad.csv: invalid UTF-8 at line 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("--lossy"), std::string::npos) << "advises a flag the caller may not have: " << msg;
  CsvOptions with_flag;
  with_flag.lossy_flag = "--lossy";
  msg = input_error_of([&] { parse_csv(text, with_flag, "bad.csv"); });
  EXPECT_NE(msg.find("or pass --lossy to replace invalid bytes with U+FFFD"), std::string::npos) << msg;
}

}  // namespace
