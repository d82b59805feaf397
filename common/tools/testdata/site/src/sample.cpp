// src/sample.cpp: a source file for the site test to link to, at a line.
namespace sample {

int answer() { return 42; }

}  // namespace sample
