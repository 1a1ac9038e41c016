// The progress reporter (core/progress.h) driven by a hand-moved clock into a string, as a pipe or
// log would receive it: a line at the start, then at most one per interval with the rate and the
// ETA, a final line with the total; the bar style redraws in place; off prints nothing.
#include "core/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

struct Capture {
  double now = 100.0;  // any origin: the reporter measures from its own start
  std::string text;
  hmr::ProgressSink sink(hmr::ProgressSink::Style style) {
    hmr::ProgressSink s;
    s.style = style;
    s.write = [this](std::string_view t) { text.append(t); };
    s.clock = [this] { return now; };
    return s;
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t at = 0;
    for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
      out.push_back(text.substr(at, nl - at));
    return out;
  }
};

TEST(Progress, LinesStartAtOnceThenEveryIntervalWithRateAndEta) {
  Capture c;
  hmr::Progress p("train_vae", 100, "epoch", c.sink(hmr::ProgressSink::Style::lines));
  ASSERT_EQ(c.lines().size(), 1u) << c.text;
  EXPECT_EQ(c.lines()[0], "hmr: train_vae: started, 100 epochs");
  // 1 epoch per 0.5 s: nothing printed before 5 s have passed since the last line.
  for (int e = 1; e <= 9; ++e) {
    c.now += 0.5;
    p.update(e, "loss 1.5");
  }
  EXPECT_EQ(c.lines().size(), 1u) << c.text;
  c.now += 0.5;  // 5.0 s after the start
  p.update(10, "loss 1.25");
  ASSERT_EQ(c.lines().size(), 2u) << c.text;
  // 10 epochs in 5 s = 2 epochs/s; 90 left -> 45 s.
  EXPECT_EQ(c.lines()[1], "hmr: train_vae: 10/100 epochs (10%), 5.0s elapsed, 2 epochs/s, ETA 45s; loss 1.25");
  c.now += 4.75;
  p.update(20);
  EXPECT_EQ(c.lines().size(), 2u) << "throttled: 4.75 s since the last line\n" << c.text;
  c.now += 0.25;
  p.update(20);
  ASSERT_EQ(c.lines().size(), 3u) << c.text;
  EXPECT_EQ(c.lines()[2], "hmr: train_vae: 20/100 epochs (20%), 10s elapsed, 2 epochs/s, ETA 40s");
  c.now += 190.0;
  p.update(100);
  p.finish("loss 0.5");
  ASSERT_EQ(c.lines().size(), 5u) << c.text;
  // 100 epochs in 200 s: under one a second, so the rate reads as seconds per epoch.
  EXPECT_EQ(c.lines()[4], "hmr: train_vae: done, 100/100 epochs in 3m20s (2 s/epoch); loss 0.5");
  EXPECT_EQ(c.text.find('\r'), std::string::npos) << "a log never gets carriage returns";
  p.finish();
  EXPECT_EQ(c.lines().size(), 5u) << "finish twice prints once";
}

TEST(Progress, SlowLoopsShowSecondsPerUnitAndLongEtasInMinutes) {
  Capture c;
  hmr::Progress p("mfcc", 1000, "file", c.sink(hmr::ProgressSink::Style::lines));
  c.now += 6.0;
  p.update(2);  // 3 s a file, 998 left: 2994 s = 49m54s
  ASSERT_EQ(c.lines().size(), 2u) << c.text;
  EXPECT_EQ(c.lines()[1], "hmr: mfcc: 2/1000 files (0%), 6.0s elapsed, 3 s/file, ETA 49m54s");
  c.now += 6.0;
  p.update(0);  // nothing finished yet (possible after a restart of counting): no rate to divide by
  EXPECT_NE(c.lines().back().find("ETA ?"), std::string::npos) << c.text;
}

// The last line of a `label` loop over `total` `unit`s that has done `done` after `seconds`.
std::string final_line(const std::string& label, std::int64_t total, const std::string& unit, double seconds,
                       std::int64_t done) {
  Capture c;
  hmr::Progress p(label, total, unit, c.sink(hmr::ProgressSink::Style::lines));
  c.now += seconds;
  p.update(done);
  p.finish();
  return c.lines().back();
}

TEST(Progress, EarlyStopReportsWhatWasDoneNotThePlan) {
  EXPECT_EQ(final_line("train", 50, "epoch", 2.0, 8), "hmr: train: done, 8/50 epochs in 2.0s (4 epochs/s)");
}

TEST(Progress, BarRedrawsInPlaceAtMostTenTimesASecondAndEndsItsLine) {
  Capture c;
  {
    hmr::Progress p("t-SNE", 1000, "iteration", c.sink(hmr::ProgressSink::Style::bar));
    const std::size_t draws0 = std::count(c.text.begin(), c.text.end(), '\r');
    EXPECT_EQ(draws0, 1u) << "the empty bar shows at once";
    for (int i = 1; i <= 100; ++i) {
      c.now += 0.01;  // 100 updates in 1 s
      p.update(i * 5, "KL 1.0");
    }
    const auto draws = std::count(c.text.begin(), c.text.end(), '\r');
    EXPECT_GE(draws, 10);
    EXPECT_LE(draws, 12) << c.text;
    EXPECT_EQ(c.text.find('\n'), std::string::npos) << "the bar stays on one line while running";
    c.now = 102.0;  // 2 s after the start
    p.update(500, "KL 1.0");
    EXPECT_NE(c.text.rfind("\rt-SNE [############............] 500/1000 iterations 2.0s 250 iterations/s, ETA 2.0s KL "
                           "1.0\033[K"),
              std::string::npos)
        << c.text;
    // An exception leaves without finish(): the destructor ends the line.
  }
  EXPECT_EQ(c.text.back(), '\n');
}

TEST(Progress, OffPrintsNothingAndAMissingSinkIsOff) {
  Capture c;
  hmr::Progress p("x", 10, "step", c.sink(hmr::ProgressSink::Style::off));
  c.now += 60;
  p.update(5);
  p.finish();
  EXPECT_TRUE(c.text.empty()) << c.text;
  EXPECT_FALSE(p.active());
  hmr::ProgressSink none;
  none.style = hmr::ProgressSink::Style::lines;  // no writer, no clock
  hmr::Progress q("y", 10, "step", none);
  EXPECT_FALSE(q.active());
  q.update(3);
  q.finish();
}

TEST(Progress, DeferredStartWritesNothingUntilTheLoopRuns) {
  Capture c;
  auto lines = c.sink(hmr::ProgressSink::Style::lines);
  lines.start_at_once = false;
  {
    hmr::Progress p("train", 10, "epoch", lines);
    EXPECT_TRUE(c.text.empty()) << "input still being checked: an error must be the only line\n" << c.text;
    c.now += 1.0;
    p.update(1);
    ASSERT_EQ(c.lines().size(), 1u) << c.text;
    EXPECT_EQ(c.lines()[0], "hmr: train: started, 10 epochs");
  }
  Capture b;
  auto bar = b.sink(hmr::ProgressSink::Style::bar);
  bar.start_at_once = false;
  { hmr::Progress p("train", 10, "epoch", bar); }  // left by an exception before the first epoch
  EXPECT_TRUE(b.text.empty()) << "no bar and no stray newline before the error\n" << b.text;
}

TEST(Progress, DurationsAreShortAndExact) {
  EXPECT_EQ(hmr::format_duration(0.42), "0.4s");
  EXPECT_EQ(hmr::format_duration(42.4), "42s");
  EXPECT_EQ(hmr::format_duration(185), "3m05s");
  EXPECT_EQ(hmr::format_duration(3720), "1h02m");
  EXPECT_EQ(hmr::format_duration(-1), "?");
}

TEST(Progress, FastRatesAreWholeNumbersNotExponents) {
  EXPECT_EQ(final_line("tsne", 1000, "iteration", 0.5, 1000),
            "hmr: tsne: done, 1000/1000 iterations in 0.5s (2000 iterations/s)");
}

}  // namespace
