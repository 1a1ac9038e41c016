// io/csv_test.cpp — the RFC 4180 reader: quoting, line endings, BOM, UTF-8 validation and the
// lossy replacement, column lookup, line numbers and error messages.
#include "io/csv.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/errors.h"

using hmr::test::input_error_of;
namespace fs = std::filesystem;
using hmr::io::CsvOptions;
using hmr::io::parse_csv;

namespace {

TEST(Csv, QuotedFieldsWithCommasNewlinesAndDoubledQuotes) {
  const auto t = parse_csv("id,lyrics\n1,\"a, b\"\n2,\"say \"\"hi\"\"\nnext line\"\n3,plain\n");
  ASSERT_EQ(t.header, (std::vector<std::string>{"id", "lyrics"}));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.at(0, 1), "a, b");
  EXPECT_EQ(t.at(1, 1), "say \"hi\"\nnext line");
  EXPECT_EQ(t.at(2, 1), "plain");
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 3, 5}));
}

TEST(Csv, CrlfLoneCrAndMissingFinalNewline) {
  const auto t = parse_csv("a,b\r\n1,\"x\r\ny\"\r\n2,z");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at(0, 1), "x\r\ny");  // line breaks inside quotes are kept as written
  EXPECT_EQ(t.at(1, 0), "2");
  EXPECT_EQ(t.at(1, 1), "z");
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 4}));
  const auto cr = parse_csv("a\r1\r2\r");
  EXPECT_EQ(cr.size(), 2u);
  EXPECT_EQ(cr.lines, (std::vector<std::int64_t>{2, 3}));
}

TEST(Csv, BomIsStrippedAndEmptyFieldsKept) {
  const auto t = parse_csv("\xEF\xBB\xBFlyrics,lang\n,bn\n\"\",en\n\nx,\n");
  EXPECT_EQ(t.header[0], "lyrics");  // not "\uFEFFlyrics"
  ASSERT_EQ(t.size(), 3u);           // the blank line is not a record
  EXPECT_EQ(t.at(0, 0), "");
  EXPECT_EQ(t.at(1, 0), "");
  EXPECT_EQ(t.at(2, 1), "");
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 3, 5}));
}

TEST(Csv, ShortRowsArePaddedAndLongRowsRejected) {
  const auto t = parse_csv("a,b,c\n1\n1,2,3\n");
  EXPECT_EQ(t.short_rows, 1);
  EXPECT_EQ(t.rows[0].size(), 3u);
  const std::string msg = input_error_of([] { parse_csv("a,b\n1,2\n1,2,3\n", {}, "f.csv"); });
  EXPECT_NE(msg.find("f.csv: line 3: 3 fields, but the header has 2"), std::string::npos) << msg;
  CsvOptions ragged;
  ragged.allow_ragged = true;
  EXPECT_EQ(parse_csv("a,b\n1,2,3\n", ragged).rows[0].size(), 3u);
}

TEST(Csv, StrayQuotesLenientByDefaultStrictOnRequest) {
  // As Python's csv module reads them.
  const auto t = parse_csv("a,b\nhe said \"hi\",\"x\"y\n");
  EXPECT_EQ(t.at(0, 0), "he said \"hi\"");
  EXPECT_EQ(t.at(0, 1), "xy");
  CsvOptions strict;
  strict.strict = true;
  EXPECT_NE(input_error_of([&] { parse_csv("a\nhe said \"hi\"\n", strict, "s.csv"); }).find("s.csv: line 2"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { parse_csv("a\n\"x\"y\n", strict, "s.csv"); }).find("after the closing quote"),
            std::string::npos);
}

TEST(Csv, UnterminatedQuoteNamesTheLineItOpened) {
  const std::string msg = input_error_of([] { parse_csv("a,b\n1,2\n3,\"open\nmore\n", {}, "u.csv"); });
  EXPECT_NE(msg.find("u.csv: line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("never closed"), std::string::npos) << msg;
}

TEST(Csv, InvalidUtf8NamesFileLineAndOffset) {
  // Line 3; the 0xFF byte sits at file offset 3 (BOM) + 8 ("a,b\n1,2\n") + 3 ("x\u00E9") = 14.
  const std::string text =
      "\xEF\xBB\xBF"
      "a,b\n1,2\nx\xC3\xA9\xFFy,z\n";
  const std::string msg = input_error_of([&] { parse_csv(text, {}, "bad.csv"); });
  EXPECT_NE(msg.find("bad.csv: invalid UTF-8 at line 3, byte offset 14"), std::string::npos) << msg;
  CsvOptions lossy;
  lossy.lossy = true;
  const auto t = parse_csv(text, lossy, "bad.csv");
  EXPECT_EQ(t.at(1, 0), "x\xC3\xA9\xEF\xBF\xBDy");
  EXPECT_EQ(t.replaced, 1);
}

TEST(Csv, Utf8ValidationFollowsTable37) {
  using hmr::io::find_invalid_utf8;
  constexpr auto ok = std::string_view::npos;
  EXPECT_EQ(find_invalid_utf8("plain ascii"), ok);
  EXPECT_EQ(find_invalid_utf8("\xE0\xA6\x95\xE0\xA7\x8D\xE0\xA6\xB7"), ok);  // ক্ষ (Bangla conjunct)
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x8E\xB5"), ok);                      // U+1F3B5
  EXPECT_EQ(find_invalid_utf8("a\xC0\xAF"), 1u);                             // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0u);                          // overlong, 3 bytes
  EXPECT_EQ(find_invalid_utf8("ab\xED\xA0\x80"), 2u);                        // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);                      // > U+10FFFF
  EXPECT_EQ(find_invalid_utf8("xy\xE0\xA6"), 2u);                            // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                                  // stray continuation
  // Maximal subparts: a truncated 3-byte prefix is one U+FFFD, each stray byte one more.
  std::int64_t n = 0;
  EXPECT_EQ(hmr::io::replace_invalid_utf8("a\xE0\xA6"
                                          "b\x80\x80",
                                          &n),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(n, 3);
}

TEST(Csv, ColumnsByNameOrIndex) {
  const auto t = parse_csv("title, lyrics ,lang\nt,l,bn\n", {}, "c.csv");
  EXPECT_EQ(t.column("lyrics"), 1u);  // surrounding spaces in the header are ignored
  EXPECT_EQ(t.column("2"), 2u);
  EXPECT_FALSE(t.find_column("missing").has_value());
  const std::string msg = input_error_of([&] { t.column("text"); });
  EXPECT_NE(msg.find("c.csv: no column named 'text' (columns: title,  lyrics , lang)"), std::string::npos) << msg;
  EXPECT_NE(input_error_of([&] { t.column("7"); }).find("out of range"), std::string::npos);
}

TEST(Csv, NoHeaderAndOtherDelimiter) {
  CsvOptions o;
  o.header = false;
  o.delimiter = ';';
  const auto t = parse_csv("1;\"a;b\"\n2;c\n", o);
  EXPECT_TRUE(t.header.empty());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at(0, 1), "a;b");
  EXPECT_EQ(t.columns(), 2u);
}

TEST(Csv, ReadsFilesAndReportsMissingOnes) {
  const fs::path d = fs::temp_directory_path() / ("hmr_csv_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  { std::ofstream(d / "x.csv", std::ios::binary) << "lyrics\n\"one\ntwo\"\n"; }
  const auto t = hmr::io::read_csv(d / "x.csv");
  EXPECT_EQ(t.at(0, 0), "one\ntwo");
  EXPECT_EQ(t.source, (d / "x.csv").string());
  EXPECT_NE(input_error_of([&] { hmr::io::read_csv(d / "nope.csv"); }).find("cannot open"), std::string::npos);
  fs::remove_all(d);
}

TEST(Csv, FieldWriterQuotesWhatRfc4180NeedsAndReadsBack) {
  using hmr::io::csv_field;
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field(" padded"), "\" padded\"");
  EXPECT_EQ(csv_field("আমার"), "আমার");  // UTF-8 passes through unquoted
  // A record of awkward fields written with csv_field parses back to the same fields.
  const std::vector<std::string> fields{"id,1", "\"q\"", "line\r\nbreak", "é ü, ß", " x ", "", "ok"};
  std::string text = "a,b,c,d,e,f,g\r\n";
  for (std::size_t i = 0; i < fields.size(); ++i) text += (i ? "," : "") + csv_field(fields[i]);
  text += "\r\n";
  const auto t = parse_csv(text, CsvOptions{});
  ASSERT_EQ(t.size(), 1u);
  ASSERT_EQ(t.rows[0].size(), fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) EXPECT_EQ(t.rows[0][i], fields[i]) << i;
}

}  // namespace
