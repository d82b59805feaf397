// common/tools/docs_repo.cpp: files, commands and paths for the docs tools (see the header).
#include "common/tools/docs_repo.hpp"

#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tcppool::docs {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool write_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out << text;
  return static_cast<bool>(out);
}

std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int raw = ::pclose(p);
  status = raw == -1 ? -1 : WIFEXITED(raw) ? WEXITSTATUS(raw) : 128;
  return out;
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::optional<std::string> normalize(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t p = 0;
  while (p <= path.size()) {
    std::size_t e = path.find('/', p);
    if (e == std::string_view::npos) e = path.size();
    std::string_view part = path.substr(p, e - p);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    p = e + 1;
  }
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : "/") + part;
  return out;
}

std::string dirname(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(path.substr(0, slash));
}

std::optional<std::string> join(std::string_view dir, std::string_view rel) {
  if (dir.empty()) return normalize(rel);
  return normalize(std::string(dir) + "/" + std::string(rel));
}

RepoFiles::RepoFiles(const std::string& root) : root_(root) {
  int status = 0;
  std::string list =
      run_command("git -C " + shell_quote(root) +
                      " ls-files -z --cached --others --exclude-standard 2>/dev/null",
                  status);
  if (status == 0 && !list.empty()) {
    std::size_t p = 0;
    while (p < list.size()) {
      std::size_t e = list.find('\0', p);
      if (e == std::string::npos) e = list.size();
      std::string f = list.substr(p, e - p);
      // A file deleted in the worktree but still in the index is not there to link to.
      if (!f.empty() && std::filesystem::exists(root + "/" + f)) files_.insert(f);
      p = e + 1;
    }
  } else {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::string rel = std::filesystem::relative(it->path(), root, ec).string();
      if (rel == "build" || rel == ".git") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) files_.insert(rel);
    }
  }
  for (const auto& f : files_) {
    for (std::string d = dirname(f); !d.empty(); d = dirname(d)) dirs_.insert(d);
  }
}

bool is_external(std::string_view url) {
  if (url.starts_with("//")) return true;
  std::size_t i = 0;
  while (i < url.size() && (std::isalnum(static_cast<unsigned char>(url[i])) || url[i] == '+' ||
                            url[i] == '-' || url[i] == '.'))
    ++i;
  return i > 0 && i < url.size() && url[i] == ':' &&
         std::isalpha(static_cast<unsigned char>(url[0]));
}

std::string page_label(std::string_view path) {
  if (path == "docs/index.md" || path == "index.md") return "mainpage";
  std::string p(path);
  if (p.ends_with(".md")) p.resize(p.size() - 3);
  if (p.starts_with("docs/")) p = p.substr(5);
  if (p == "README") {
    p = "readme";
  } else if (p.ends_with("/README")) {
    p = p.substr(0, p.size() - 7) + "_readme";
  }
  for (char& c : p)
    if (c == '/' || c == '-' || c == '.') c = '_';
  return p;
}

bool is_doxygen_source(std::string_view path) {
  if (!path.ends_with(".hpp") && !path.ends_with(".cpp")) return false;
  return !path.starts_with("build/") && path.find("/testdata/") == std::string_view::npos &&
         !path.starts_with("workshop/");
}

bool is_site_page(std::string_view path) {
  return path.ends_with(".md") && !path.starts_with("build/") && !path.starts_with("workshop/") &&
         path.find("/testdata/") == std::string_view::npos && !path.starts_with(".");
}

}  // namespace tcppool::docs
