// Tests for common/bench/report.hpp: merging benchmark JSON into the cross-stage report.
#include "common/bench/report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace tcppool::bench::report {
namespace {

using nlohmann::json;

json run(const std::string& name, double rps, int threads, int payload, int pool, double errors = 0,
         double peak = 4) {
  return {{"name", name + "/iterations:1/manual_time"},
          {"run_name", name + "/iterations:1/manual_time"},
          {"run_type", "iteration"},
          {"real_time", 500.0},
          {"time_unit", "ms"},
          {"rps", rps},
          {"p50_us", rps / 1000},
          {"p99_us", rps / 100},
          {"max_us", rps / 10},
          {"errors", errors},
          {"dials_per_1k", 0.0},
          {"peak_open", peak},
          {"tw_before", 7.0},
          {"tw_after", 0.0},
          {"threads", threads},
          {"payload_bytes", payload},
          {"pool_size", pool}};
}

json acquire(const std::string& stage, double ns) {
  return {{"name", "acquire_release/" + stage},
          {"run_name", "acquire_release/" + stage},
          {"run_type", "iteration"},
          {"real_time", ns},
          {"time_unit", "ns"}};
}

class Report : public ::testing::Test {
 protected:
  std::string write(const std::string& stage, const json& benchmarks,
                    const std::string& network = "", const json& context = json::object()) {
    json doc = {{"context",
                 {{"date", "2026-11-22"},
                  {"host_name", "box"},
                  {"num_cpus", 2},
                  {"stage", stage},
                  {"mode", "full"},
                  {"compiler", "GNU 12.2.0"},
                  {"endpoint", "in-process"}}},
                {"benchmarks", benchmarks}};
    if (!network.empty()) doc["context"]["network"] = network;
    for (const auto& [k, v] : context.items()) doc["context"][k] = v;
    auto path = dir_ / (stage + ".json");
    std::ofstream(path) << doc.dump();
    return path.string();
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("report_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(Report, MergesRepetitionsByMedianAndKeepsDedicatedPerBinary) {
  auto s1 =
      write("stage1", json::array({run("steady/stage1/threads:4/payload:64", 10000, 4, 64, 0),
                                   run("steady/stage1/threads:4/payload:64", 12000, 4, 64, 0, 1),
                                   run("steady/stage1/threads:4/payload:64", 11000, 4, 64, 0, 2),
                                   run("steady/dedicated/threads:4/payload:64", 100000, 4, 64, 0),
                                   acquire("stage1", 60000)}));
  auto s2 =
      write("stage2", json::array({run("steady/stage2/threads:4/payload:64", 98000, 4, 64, 4),
                                   run("steady/dedicated/threads:4/payload:64", 100000, 4, 64, 0),
                                   acquire("stage2", 41.5)}));
  std::vector<Row> rows;
  Meta meta;
  load({s2, s1}, rows, meta);
  EXPECT_EQ(meta.stages, (std::vector<std::string>{"stage1", "stage2"}));
  EXPECT_EQ(meta.fields["compiler"], "GNU 12.2.0");
  ASSERT_EQ(rows.size(), 6u);
  const Row* r1 = nullptr;
  int dedicated = 0;
  for (const auto& r : rows) {
    if (r.scenario == "steady" && r.stage == "stage1") r1 = &r;
    if (r.stage == "dedicated") ++dedicated;
  }
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r1->repetitions, 3);
  EXPECT_DOUBLE_EQ(r1->rps, 11000);    // median
  EXPECT_DOUBLE_EQ(r1->errors, 3);     // sum
  EXPECT_DOUBLE_EQ(r1->max_us, 1200);  // max
  EXPECT_EQ(r1->threads, 4);
  EXPECT_EQ(r1->payload_bytes, 64);
  EXPECT_EQ(dedicated, 2) << "each binary's dedicated row stays its own measurement";
}

// A paired run (scenarios.hpp) carries its B side under b_ names; the label says what B is.
TEST_F(Report, PairedRunsBecomeTwoRows) {
  json steady = run("steady/stage2/threads:16/payload:64", 60000, 16, 64, 16);
  steady["label"] = "b=dedicated";
  steady["b_rps"] = 64000.0;
  steady["b_p99_us"] = 321.0;
  steady["b_threads"] = 16;
  steady["b_payload_bytes"] = 64;
  steady["b_pool_size"] = 0;
  json crowd = run("contention/stage2/threads:64/payload:64", 50000, 64, 64, 8);
  crowd["label"] = "b=threads";
  crowd["b_rps"] = 55000.0;
  crowd["b_threads"] = 8;
  crowd["b_payload_bytes"] = 64;
  crowd["b_pool_size"] = 8;
  std::vector<Row> rows;
  Meta meta;
  load({write("stage2", json::array({steady, crowd}))}, rows, meta);
  ASSERT_EQ(rows.size(), 4u);
  const Row* ded = nullptr;
  const Row* eight = nullptr;
  for (const auto& r : rows) {
    if (r.stage == "dedicated") ded = &r;
    if (r.scenario == "contention" && r.threads == 8) eight = &r;
  }
  ASSERT_NE(ded, nullptr);
  EXPECT_EQ(ded->measured_with, "stage2");
  EXPECT_EQ(ded->threads, 16);
  EXPECT_DOUBLE_EQ(ded->rps, 64000);
  EXPECT_DOUBLE_EQ(ded->p99_us, 321);
  ASSERT_NE(eight, nullptr);
  EXPECT_EQ(eight->stage, "stage2");
  EXPECT_EQ(eight->pool_size, 8);
  EXPECT_DOUBLE_EQ(eight->rps, 55000);
}

// The contention scenario's wait quantiles become a table under the contention section and the
// wait chart's data, one column per stage that measured them; without them, neither appears.
TEST_F(Report, ContentionWaitsBecomeATableAndAChart) {
  auto crowd = [&](const std::string& stage, double p50, double max) {
    json c = run("contention/" + stage + "/threads:64/payload:64", 50000, 64, 64, 8);
    c["label"] = "b=threads";
    c["b_rps"] = 55000.0;
    c["b_threads"] = 8;
    c["b_payload_bytes"] = 64;
    c["b_pool_size"] = 8;
    if (max > 0) {
      c["wait_p50_us"] = p50;
      c["wait_p99_us"] = p50 * 10;
      c["wait_p999_us"] = p50 * 20;
      c["wait_max_us"] = max;
    }
    return c;
  };
  std::vector<Row> rows;
  Meta meta;
  load({write("stage2", json::array({crowd("stage2", 0, 0)})),
        write("stage5", json::array({crowd("stage5", 40, 9000)}))},
       rows, meta);
  std::string md = render_markdown(rows, meta, {});
  auto at = md.find("Waiting for a connection at 64 threads");
  ASSERT_NE(at, std::string::npos) << md;
  EXPECT_NE(md.find("| stage5 | 40 µs | 400 µs | 800 µs | 9.0 ms |", at), std::string::npos)
      << md.substr(at);
  EXPECT_EQ(md.find("| stage2 | 0", at), std::string::npos) << "stage2 measured no wait";
  std::string dat = wait_chart_data(rows, meta);
  EXPECT_EQ(dat, "quantile stage5\np50 40.0\np99 400.0\np99.9 800.0\nmax 9000.0\n");
  EXPECT_NE(wait_chart_script("w.dat", "w.png", "w.svg").find("set logscale y"), std::string::npos);

  std::vector<Row> none;
  Meta none_meta;
  load({write("stage2", json::array({crowd("stage2", 0, 0)}))}, none, none_meta);
  EXPECT_EQ(wait_chart_data(none, none_meta), "");
  EXPECT_EQ(render_markdown(none, none_meta, {}).find("Waiting for a connection"),
            std::string::npos);
}

// A paired run's own estimate, the median of its pairs' ratios, wins over the ratio of the two
// sides' totals, which one slow slice can move.
TEST_F(Report, PairedMedianRatioIsPreferredToTheRatioOfTotals) {
  json a = run("steady/stage2/threads:4/payload:64", 60000, 4, 64, 4);
  a["label"] = "b=dedicated";
  a["a_over_b"] = 0.99;
  a["b_rps"] = 80000.0;  // totals say 0.75
  a["b_threads"] = 4;
  a["b_payload_bytes"] = 64;
  std::vector<Row> rows;
  Meta meta;
  load({write("stage2", json::array({a}))}, rows, meta);
  std::string md = render_markdown(rows, meta, check_budgets(rows));
  EXPECT_NE(md.find("| stage2 | – | 0.99× | – | – |"), std::string::npos) << md;
  for (const auto& b : check_budgets(rows)) {
    if (b.claim.starts_with("stage2 steady ≥ 0.95 × dedicated")) {
      EXPECT_TRUE(b.met) << b.measured;
    }
  }
  json doc = json::parse(render_json(rows, meta, check_budgets(rows)));
  EXPECT_DOUBLE_EQ(doc["rows"][0]["a_over_b"].get<double>(), 0.99);
}

TEST_F(Report, BudgetsAreCheckedAgainstTheRows) {
  auto s1 =
      write("stage1", json::array({run("steady/stage1/threads:4/payload:64", 10000, 4, 64, 0)}));
  auto s2 =
      write("stage2", json::array({run("steady/stage2/threads:4/payload:64", 40000, 4, 64, 4),
                                   run("steady/dedicated/threads:4/payload:64", 50000, 4, 64, 0),
                                   acquire("stage2", 60)}));
  std::vector<Row> rows;
  Meta meta;
  load({s1, s2}, rows, meta);
  auto budgets = check_budgets(rows);
  auto find = [&](const std::string& prefix) -> const Budget* {
    for (const auto& b : budgets) {
      if (b.claim.starts_with(prefix)) return &b;
    }
    return nullptr;
  };
  const Budget* pays = find("stage2 steady ≥ 3 × stage1 (4 threads, 64 B)");
  ASSERT_NE(pays, nullptr);
  EXPECT_TRUE(pays->known);
  EXPECT_TRUE(pays->met);
  EXPECT_EQ(pays->measured, "4.000×");
  const Budget* ceiling = find("stage2 steady ≥ 0.95 × dedicated");
  ASSERT_NE(ceiling, nullptr);
  EXPECT_FALSE(ceiling->met) << "40000 / 50000 = 0.8";
  EXPECT_NE(ceiling->measured.find("0.800×"), std::string::npos) << ceiling->measured;
  const Budget* cost = find("stage2 uncontended acquire + release ≤ 50 ns");
  ASSERT_NE(cost, nullptr);
  EXPECT_FALSE(cost->met);
  const Budget* unmeasured = find("stage2 steady ≥ 3 × stage1 (16 threads, 64 B)");
  ASSERT_NE(unmeasured, nullptr);
  EXPECT_FALSE(unmeasured->known);
  EXPECT_EQ(unmeasured->measured, "not measured");
  EXPECT_EQ(find("stage3"), nullptr) << "no budget for a stage that was not run";
}

// Stages run minutes apart; each is divided by the ceiling measured beside it before they are
// compared, so a machine that was twice as fast during stage 1's run does not halve the ratio.
TEST_F(Report, StageRatiosCancelDriftThroughThePairedCeiling) {
  auto s1 = write("stage1",
                  json::array({run("steady/stage1/threads:4/payload:64", 25000, 4, 64, 0),
                               run("steady/dedicated/threads:4/payload:64", 100000, 4, 64, 0)}));
  auto s2 =
      write("stage2", json::array({run("steady/stage2/threads:4/payload:64", 40000, 4, 64, 4),
                                   run("steady/dedicated/threads:4/payload:64", 50000, 4, 64, 0)}));
  std::vector<Row> rows;
  Meta meta;
  load({s1, s2}, rows, meta);
  for (const auto& b : check_budgets(rows)) {
    if (b.claim == "stage2 steady ≥ 3 × stage1 (4 threads, 64 B)") {
      EXPECT_EQ(b.measured, "3.200×") << "(40000/50000) / (25000/100000), not 40000/25000";
      EXPECT_TRUE(b.met);
    }
  }
  std::string md = render_markdown(rows, meta, check_budgets(rows));
  EXPECT_NE(md.find("| stage2 | – | 3.20× | – | – |"), std::string::npos) << md;
}

TEST_F(Report, MarkdownJsonAndChartCarryTheNumbers) {
  auto s1 = write("stage1",
                  json::array({run("steady/stage1/threads:4/payload:64", 11300, 4, 64, 0),
                               run("steady/dedicated/threads:4/payload:64", 113000, 4, 64, 0),
                               run("burst/stage1/threads:64/payload:64", 9000, 64, 64, 0, 0, 64)}));
  std::vector<Row> rows;
  Meta meta;
  load({s1}, rows, meta);
  meta.fields["commit"] = "abc1234";
  auto budgets = check_budgets(rows);
  std::string md = render_markdown(rows, meta, budgets);
  EXPECT_NE(md.find("abc1234"), std::string::npos);
  EXPECT_NE(md.find("| stage1 | – | 11.3k | – | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("| dedicated | – | 113k | – | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("| stage1 | – | 0.10× | – | – |"), std::string::npos) << "ratio to dedicated";
  EXPECT_NE(md.find("## burst"), std::string::npos);

  json doc = json::parse(report::render_json(rows, meta, budgets));
  ASSERT_EQ(doc["rows"].size(), 3u);
  for (const char* k : {"scenario", "stage", "threads", "payload_bytes", "pool_size", "rps",
                        "p50_us", "p99_us", "max_us", "errors", "dials_per_1k", "peak_open"}) {
    EXPECT_TRUE(doc["rows"][0].contains(k)) << k;
  }
  EXPECT_EQ(doc["rows"][1]["stage"], "dedicated");
  EXPECT_EQ(doc["meta"]["commit"], "abc1234");

  std::string dat = chart_data(rows, meta);
  EXPECT_NE(dat.find("threads stage1 dedicated\n"), std::string::npos) << dat;
  EXPECT_NE(dat.find("\n4 11300 113000\n"), std::string::npos) << dat;
  std::string gp = chart_script(meta, "d.dat", "r.png", "r.svg");
  EXPECT_NE(gp.find("plot for [c=2:3] 'd.dat'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set output 'r.svg'"), std::string::npos);
}

// The report says which network namespace the binaries ran in: their own (bench.sh as root),
// the host's, or a mix, and "unknown" for results that predate the field.
TEST_F(Report, SaysWhichNetworkNamespaceTheBinariesRanIn) {
  auto render = [&](const std::vector<std::string>& inputs) {
    std::vector<Row> rows;
    Meta meta;
    load(inputs, rows, meta);
    return render_markdown(rows, meta, check_budgets(rows));
  };
  auto steady = json::array({run("steady/stage1/threads:4/payload:64", 11300, 4, 64, 0)});
  auto own1 = write("stage1", steady, "own");
  auto own2 = write("stage2", steady, "own");
  EXPECT_NE(render({own1, own2}).find("| network | a network namespace of its own for each binary"),
            std::string::npos);
  auto host = write("stage3", steady, "host");
  EXPECT_NE(render({host}).find("| network | the host's"), std::string::npos);
  EXPECT_NE(render({own1, host}).find("| network | mixed"), std::string::npos);
  auto old = write("stage4", steady);
  EXPECT_NE(render({old}).find("| network | unknown"), std::string::npos);
}

json failed(const std::string& name, const std::string& error) {
  return {{"name", name + "/iterations:1/manual_time"},
          {"run_name", name + "/iterations:1/manual_time"},
          {"run_type", "iteration"},
          {"error_occurred", true},
          {"error_message", error}};
}

// A scenario that cannot run at all (against an external server, a dial that times out) is
// kept as a failed row with its error, not dropped; the other rows and budgets are unaffected.
TEST_F(Report, AScenarioThatCouldNotRunIsShownAsFailedWithItsError) {
  auto s1 = write("stage1",
                  json::array({failed("acquire_release/stage1", "deadline exceeded"),
                               run("steady/stage1/threads:4/payload:64", 11300, 4, 64, 0),
                               run("steady/dedicated/threads:4/payload:64", 113000, 4, 64, 0),
                               failed("burst/stage1/threads:64/payload:64", "refused"),
                               run("burst/stage1/threads:64/payload:64", 9000, 64, 64, 0, 0, 64)}));
  std::vector<Row> rows;
  Meta meta;
  load({s1}, rows, meta);
  meta.missing = {"stage2: exited with status 134 before writing results"};
  const Row* ar = nullptr;
  const Row* burst = nullptr;
  for (const auto& r : rows) {
    if (r.scenario == "acquire_release") ar = &r;
    if (r.scenario == "burst") burst = &r;
  }
  ASSERT_NE(ar, nullptr) << "the failed scenario must still have its row";
  EXPECT_TRUE(ar->all_failed());
  EXPECT_EQ(ar->error, "deadline exceeded");
  ASSERT_NE(burst, nullptr);
  EXPECT_EQ(burst->failed, 1);
  EXPECT_EQ(burst->repetitions, 2);
  EXPECT_FALSE(burst->all_failed());
  EXPECT_EQ(burst->rps, 9000) << "the repetition that ran gives the numbers";

  std::string md = render_markdown(rows, meta, check_budgets(rows));
  EXPECT_NE(md.find("## Runs that failed"), std::string::npos) << md;
  EXPECT_NE(md.find("| acquire_release | stage1 | 0 threads, 0 B | 1 of 1 | deadline exceeded |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| burst | stage1 | 64 threads, 64 B | 1 of 2 | refused |"), std::string::npos);
  EXPECT_NE(md.find("| (all) | stage2: exited with status 134 before writing results |"),
            std::string::npos);
  EXPECT_NE(md.find("| stage1 | failed |"), std::string::npos) << "acquire_release table";
  EXPECT_NE(md.find("| stage1 | – | 11.3k | – | – |"), std::string::npos) << "steady still there";
  json doc = json::parse(render_json(rows, meta, check_budgets(rows)));
  bool found = false;
  for (const auto& r : doc["rows"]) {
    if (r["scenario"] == "acquire_release") {
      found = true;
      EXPECT_EQ(r["error"], "deadline exceeded");
      EXPECT_EQ(r["failed"], 1);
    }
  }
  EXPECT_TRUE(found);
}

// echo_server_bench's rows are the server's, not a stage's: no stage column, a section of
// their own, one line per count of idle connections.
TEST_F(Report, EchoServerRowsGetTheirOwnSection) {
  json echo0 = run("echo_beside_idle/echo_server/idle:0", 50000, 0, 0, 0);
  echo0["idle_connections"] = 0;
  json echo5k = run("echo_beside_idle/echo_server/idle:5000", 2000, 0, 0, 0);
  echo5k["idle_connections"] = 5000;
  json poll5k = {{"name", "bare_poll/echo_server/fds:5000/iterations:2000"},
                 {"run_name", "bare_poll/echo_server/fds:5000/iterations:2000"},
                 {"run_type", "iteration"},
                 {"real_time", 250.0},
                 {"time_unit", "us"},
                 {"fds", 5000}};
  auto e = write("echo_server", json::array({echo0, echo5k, poll5k}));
  auto s1 =
      write("stage1", json::array({run("steady/stage1/threads:4/payload:64", 11300, 4, 64, 0)}));
  std::vector<Row> rows;
  Meta meta;
  load({s1, e}, rows, meta);
  EXPECT_EQ(meta.stages, std::vector<std::string>{"stage1"});
  std::string md = render_markdown(rows, meta, check_budgets(rows));
  EXPECT_NE(md.find("## echo server: one client beside idle connections"), std::string::npos);
  EXPECT_NE(md.find("| 0 | 50 µs | 500 µs | 5.0 ms | 50.0k | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 5000 | 2.0 µs | 20 µs | 200 µs | 2.0k | 250 µs |"), std::string::npos) << md;
  EXPECT_EQ(md.find("## echo_beside_idle"), std::string::npos) << "not also a generic section";
}

// A paired run with the event-loop ceiling carries it under c_ names; it becomes an "eventloop"
// row in the steady and contention tables, with its ratio to B, and each stage's ratio to it.
TEST_F(Report, EventLoopCeilingBecomesARowWithItsRatio) {
  auto three = [](json a, const std::string& b_is, double b_rps, int b_threads, double c_rps,
                  int c_threads) {
    a["label"] = "b=" + b_is + ",c=eventloop";
    a["b_rps"] = b_rps;
    a["b_threads"] = b_threads;
    a["b_payload_bytes"] = 64;
    a["b_pool_size"] = b_is == "dedicated" ? 0 : 8;
    a["c_rps"] = c_rps;
    a["c_p50_us"] = 30.0;
    a["c_p99_us"] = 90.0;
    a["c_threads"] = c_threads;
    a["c_payload_bytes"] = 64;
    a["c_pool_size"] = 0;
    a["a_over_b"] = a["rps"].get<double>() / b_rps;
    a["a_over_c"] = a["rps"].get<double>() / c_rps;
    a["c_over_b"] = c_rps / b_rps;
    return a;
  };
  auto steady = three(run("steady/stage3/threads:64/payload:64", 90000, 64, 64, 64), "dedicated",
                      100000, 64, 160000, 64);
  auto crowd = three(run("contention/stage3/threads:64/payload:64", 60000, 64, 64, 8), "threads",
                     100000, 8, 120000, 8);
  std::vector<Row> rows;
  Meta meta;
  load({write("stage3", json::array({steady, crowd}))}, rows, meta);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(meta.stages, std::vector<std::string>{"stage3"}) << "a ceiling is not a stage";
  const Row* loop = nullptr;
  for (const auto& r : rows) {
    if (r.scenario == "steady" && r.stage == "eventloop") loop = &r;
  }
  ASSERT_NE(loop, nullptr);
  EXPECT_EQ(loop->threads, 64) << "the connections its one thread drives";
  EXPECT_DOUBLE_EQ(loop->rps, 160000);
  EXPECT_DOUBLE_EQ(loop->a_over_b, 1.6);

  std::string md = render_markdown(rows, meta, check_budgets(rows));
  EXPECT_NE(md.find("| dedicated | – | – | – | 100k |"), std::string::npos) << md;
  EXPECT_NE(md.find("| eventloop | – | – | – | 160k |"), std::string::npos) << md;
  EXPECT_NE(md.find("| eventloop | – | – | – | 1.60× |"), std::string::npos) << "its ratio";
  EXPECT_NE(md.find("| eventloop | – | – | – | 30 µs / 90 µs |"), std::string::npos) << md;
  EXPECT_NE(md.find("| stage3 | – | – | – | 0.90× |"), std::string::npos) << "unchanged";
  auto at = md.find("## contention");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(md.find("| stage3 | 100k | 60.0k | 0.60× | 0.50× |", at), std::string::npos)
      << md.substr(at);
  EXPECT_NE(md.find("| eventloop | 120k | – | ÷ 8 threads: 1.20× |", at), std::string::npos)
      << md.substr(at);
  json doc = json::parse(render_json(rows, meta, {}));
  bool found = false;
  for (const auto& r : doc["rows"]) {
    if (r["scenario"] == "contention" && r["stage"] == "stage3" && r["threads"] == 64) {
      EXPECT_DOUBLE_EQ(r["a_over_c"].get<double>(), 0.5);
      found = true;
    }
  }
  EXPECT_TRUE(found);

  // Results from before the event-loop ceiling render as they did: no row, no paragraph.
  std::vector<Row> old_rows;
  Meta old_meta;
  json old = run("steady/stage3/threads:64/payload:64", 90000, 64, 64, 64);
  old["label"] = "b=dedicated";
  old["b_rps"] = 100000.0;
  old["b_threads"] = 64;
  old["b_payload_bytes"] = 64;
  load({write("stage3", json::array({old}))}, old_rows, old_meta);
  EXPECT_EQ(old_rows.size(), 2u);
  EXPECT_EQ(render_markdown(old_rows, old_meta, {}).find("eventloop"), std::string::npos);
}

json contention(const std::string& stage, double rps64, double rps8, double p50_8,
                double wait_max) {
  json c = run("contention/" + stage + "/threads:64/payload:64", rps64, 64, 64, 8);
  c["label"] = "b=threads";
  c["b_rps"] = rps8;
  c["b_p50_us"] = p50_8;
  c["b_threads"] = 8;
  c["b_payload_bytes"] = 64;
  c["b_pool_size"] = 8;
  c["a_over_b"] = rps64 / rps8;
  c["wait_p50_us"] = wait_max / 100;
  c["wait_p99_us"] = wait_max / 10;
  c["wait_p999_us"] = wait_max / 2;
  c["wait_max_us"] = wait_max;
  return c;
}

// A binary that measures a stage and its strict-FIFO variant names both ("stage6+stage6-fifo");
// the names survive the report whole, and each variant sits right after its stage.
TEST_F(Report, StageVariantsKeepTheirNamesAndSitBesideTheirStage) {
  auto s6 =
      write("stage6+stage6-fifo", json::array({contention("stage6-fifo", 50000, 90000, 500, 2000),
                                               contention("stage6", 88000, 90000, 500, 9000)}));
  auto s3 = write("stage3", json::array({contention("stage3", 60000, 96000, 500, 1500)}));
  auto s5 = write("stage5+stage5-fifo",
                  json::array({contention("stage5", 88000, 90000, 500, 9000),
                               contention("stage5-fifo", 50000, 90000, 500, 2000)}));
  std::vector<Row> rows;
  Meta meta;
  load({s6, s5, s3}, rows, meta);
  EXPECT_EQ(meta.stages,
            (std::vector<std::string>{"stage3", "stage5", "stage5-fifo", "stage6", "stage6-fifo"}));
  std::vector<std::string> names{"stage6-fifo", "stage10", "stage6", "stage1-fifo", "stage1"};
  order_stages(names);
  EXPECT_EQ(names, (std::vector<std::string>{"stage1", "stage1-fifo", "stage10", "stage6",
                                             "stage6-fifo"}));

  std::string md = render_markdown(rows, meta, check_budgets(rows));
  auto at = md.find("## contention");
  ASSERT_NE(at, std::string::npos) << md;
  auto fifo = md.find("| stage6-fifo | 90.0k | 50.0k | 0.56× |", at);
  auto barging = md.find("| stage6 | 90.0k | 88.0k | 0.98× |", at);
  ASSERT_NE(fifo, std::string::npos) << md.substr(at);
  ASSERT_NE(barging, std::string::npos) << md.substr(at);
  EXPECT_LT(barging, fifo) << "stage6-fifo follows stage6";
  EXPECT_NE(md.find("| stage6-fifo | 20 µs | 200 µs | 1.0 ms | 2.0 ms |", at), std::string::npos)
      << "the wait table";

  // The wait chart: the FIFO channel, strict FIFO and bounded barging, not every stage.
  EXPECT_EQ(wait_chart_data(rows, meta),
            "quantile stage3 stage6 stage6-fifo\np50 15.0 90.0 20.0\np99 150.0 900.0 200.0\n"
            "p99.9 750.0 4500.0 1000.0\nmax 1500.0 9000.0 2000.0\n");

  // The contention budget holds barging to 0.9 × and shows the FIFO variants' trade unjudged.
  auto budgets = check_budgets(rows);
  auto claimed = [&](const std::string& prefix) {
    return std::ranges::any_of(budgets,
                               [&](const Budget& b) { return b.claim.starts_with(prefix); });
  };
  EXPECT_TRUE(claimed("stage5 64 threads on 8 connections ≥ 0.90"));
  EXPECT_TRUE(claimed("stage6 64 threads on 8 connections ≥ 0.90"));
  EXPECT_FALSE(claimed("stage5-fifo "));
  EXPECT_FALSE(claimed("stage6-fifo "));
}

// The wait budget: the longest acquire wait at 64 threads within the starvation bound (from
// the binary's context, 10 ms when absent) and one service time (the p50 of the 8 threads on
// the same 8 connections).
TEST_F(Report, WaitBudgetAddsTheStarvationBoundFromTheContextToOneServiceTime) {
  auto budget = [&](const std::vector<Row>& rows, const std::string& stage) -> Budget {
    for (const auto& b : check_budgets(rows)) {
      if (b.claim.starts_with(stage + " max acquire wait under contention")) return b;
    }
    ADD_FAILURE() << "no wait budget for " << stage;
    return {};
  };
  std::vector<Row> rows;
  Meta meta;
  // Google Benchmark writes custom context as strings: "20".
  load({write("stage5+stage5-fifo",
              json::array({contention("stage5", 88000, 90000, 600, 20500),
                           contention("stage5-fifo", 50000, 90000, 600, 2000)}),
              "", {{"starvation_bound_ms", "20"}})},
       rows, meta);
  Budget b = budget(rows, "stage5");
  EXPECT_TRUE(b.known);
  EXPECT_TRUE(b.met) << "20.5 ms ≤ 20 ms + 600 µs: " << b.measured;
  EXPECT_EQ(b.measured, "20.50 ms (limit 20.60 ms = 20 ms + 600 µs)");
  EXPECT_FALSE(std::ranges::any_of(check_budgets(rows), [](const Budget& x) {
    return x.claim.starts_with("stage5-fifo max acquire wait");
  })) << "strict FIFO is not held to the barging bound";

  std::vector<Row> absent;
  Meta absent_meta;
  load({write("stage6", json::array({contention("stage6", 88000, 90000, 600, 20500)}))}, absent,
       absent_meta);
  Budget d = budget(absent, "stage6");
  EXPECT_TRUE(d.known);
  EXPECT_FALSE(d.met) << "20.5 ms > 10 ms (the default) + 600 µs: " << d.measured;
  json doc = json::parse(render_json(rows, meta, {}));
  EXPECT_DOUBLE_EQ(doc["rows"][0]["starvation_bound_ms"].get<double>(), 20);

  std::vector<Row> short_wait;
  Meta short_meta;
  load({write("stage6", json::array({contention("stage6", 88000, 90000, 600, 10400)}))}, short_wait,
       short_meta);
  EXPECT_TRUE(budget(short_wait, "stage6").met) << "10.4 ms ≤ 10 ms + 600 µs";
}

TEST_F(Report, UnreadableOrForeignInputIsAnErrorNamingTheFile) {
  std::vector<Row> rows;
  Meta meta;
  EXPECT_THROW(load({(dir_ / "missing.json").string()}, rows, meta), std::runtime_error);
  auto bad = dir_ / "bad.json";
  std::ofstream(bad) << "{ not json";
  try {
    load({bad.string()}, rows, meta);
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  auto foreign = dir_ / "foreign.json";
  std::ofstream(foreign) << R"({"context": {}, "benchmarks": []})";
  EXPECT_THROW(load({foreign.string()}, rows, meta), std::runtime_error);
}

}  // namespace
}  // namespace tcppool::bench::report
