#!/bin/sh
# Workshop mode's compiler and linker launcher (common/workshop/build.cpp): runs the command it
# is given and appends what it prints to LOG, so that each test binary of a grading has its own
# diagnostics to read. Usage: scripts/workshop-log.sh LOG COMMAND...
log=$1
shift
"$@" >>"$log" 2>&1
