// common/bench/report_main.cpp: bench_report, which merges the stages' benchmark JSON.
//
// Usage: bench_report --out DIR [--commit HASH] [--failed "NAME: REASON"]... STAGE.json...
// --failed names a benchmark binary that wrote no results (it crashed, say): the report says
// so instead of leaving the stage out silently.
// Writes DIR/report.md, DIR/report.json, DIR/report-steady.dat and DIR/chart.gp (which
// scripts/bench.sh hands to gnuplot for report.png and report.svg).
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/bench/report.hpp"

namespace report = tcppool::bench::report;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error(path + ": cannot write");
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir;
  std::string commit = "unknown";
  std::vector<std::string> inputs;
  std::vector<std::string> missing;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (arg == "--commit" && i + 1 < argc) {
      commit = argv[++i];
    } else if (arg == "--failed" && i + 1 < argc) {
      missing.push_back(argv[++i]);
    } else {
      inputs.push_back(arg);
    }
  }
  if (out_dir.empty() || (inputs.empty() && missing.empty())) {
    std::fprintf(stderr,
                 "usage: bench_report --out DIR [--commit HASH] [--failed \"NAME: REASON\"]... "
                 "STAGE.json...\n");
    return 2;
  }
  try {
    std::vector<report::Row> rows;
    report::Meta meta;
    report::load(inputs, rows, meta);
    meta.missing = missing;
    meta.fields["commit"] = commit;
    meta.fields["cpu_model"] = cpu_model();
    utsname u{};
    if (::uname(&u) == 0) meta.fields["kernel"] = std::string(u.sysname) + " " + u.release;

    auto budgets = report::check_budgets(rows);
    write(out_dir + "/report.md", report::render_markdown(rows, meta, budgets));
    write(out_dir + "/report.json", report::render_json(rows, meta, budgets));
    write(out_dir + "/report-steady.dat", report::chart_data(rows, meta));
    write(out_dir + "/chart.gp",
          report::chart_script(meta, out_dir + "/report-steady.dat", out_dir + "/report.png",
                               out_dir + "/report.svg"));
    // The fault chart, when fault scenarios ran (not against an external server).
    if (std::string faults = report::faults_chart_data(rows, meta); !faults.empty()) {
      write(out_dir + "/report-faults.dat", faults);
      write(out_dir + "/chart-faults.gp",
            report::faults_chart_script(meta, out_dir + "/report-faults.dat",
                                        out_dir + "/report-faults.png",
                                        out_dir + "/report-faults.svg"));
    }
    if (std::string waits = report::wait_chart_data(rows, meta); !waits.empty()) {
      write(out_dir + "/report-wait.dat", waits);
      write(out_dir + "/chart-wait.gp",
            report::wait_chart_script(out_dir + "/report-wait.dat", out_dir + "/report-wait.png",
                                      out_dir + "/report-wait.svg"));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_report: %s\n", e.what());
    return 1;
  }
  return 0;
}
