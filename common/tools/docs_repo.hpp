// common/tools/docs_repo.hpp: the repository as the docs tools see it.
//
// A link in a page is good on GitHub when it names a file of the repository, not a file that
// happens to exist in one checkout (build/bench/report.svg exists only after `make bench`). So
// the tools resolve links against the files git tracks or would track (untracked files not
// ignored count, so that a new page can link to a new file before the commit), and against the
// directories that hold them.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tcppool::docs {

/// Reads a whole file; nullopt when it cannot be read.
std::optional<std::string> read_file(const std::string& path);

/// Writes a whole file; false when it cannot be written.
bool write_file(const std::string& path, std::string_view text);

/// Runs `command` through the shell and returns its standard output; sets `status` to its
/// exit status (-1 when it could not be started).
std::string run_command(const std::string& command, int& status);

/// Quotes `s` for the shell.
std::string shell_quote(std::string_view s);

/// Normalises a relative path: removes "." and resolves ".." (nullopt if it leaves the root).
std::optional<std::string> normalize(std::string_view path);

/// Returns the directory part of a repository path ("docs/a.md" -> "docs", "a.md" -> "").
std::string dirname(std::string_view path);

/// Joins a directory and a relative path, then normalises.
std::optional<std::string> join(std::string_view dir, std::string_view rel);

/// The files of a repository (paths relative to its root), and its directories.
class RepoFiles {
 public:
  /// Lists the files under `root` with git (tracked, plus untracked that are not ignored);
  /// without git, every file outside build/ and .git/.
  explicit RepoFiles(const std::string& root);

  /// True when `path` is one of the files.
  bool is_file(const std::string& path) const { return files_.contains(path); }
  /// True when `path` is a directory holding one of the files ("" is the root).
  bool is_dir(const std::string& path) const { return path.empty() || dirs_.contains(path); }
  /// Returns every file, sorted.
  const std::set<std::string>& files() const { return files_; }
  /// Returns the root the paths are relative to.
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::set<std::string> files_;
  std::set<std::string> dirs_;
};

/// True for a URL with a scheme (https:, mailto:, ...) or a protocol-relative one.
bool is_external(std::string_view url);

/// The Doxygen page label of a Markdown file: docs/stage2-mutex-queue.md -> stage2_mutex_queue,
/// docs/index.md -> mainpage, README.md -> readme, stage1-naive/README.md -> stage1_naive_readme.
std::string page_label(std::string_view path);

/// True for a file Doxygen reads as source (its pages have a listing with line anchors).
bool is_doxygen_source(std::string_view path);

/// True for a Markdown file that is a page of the site and of the checks (not test input).
bool is_site_page(std::string_view path);

}  // namespace tcppool::docs
