// apps/commands.h: the subcommands of `fm`, each in its own cmd_*.cpp. Each takes the whole
// argv (options start at argv[2]) and returns the process exit code; errors are thrown.
#pragma once

namespace fm {

int cmd_train(int argc, char** argv);
int cmd_sample(int argc, char** argv);
int cmd_nll(int argc, char** argv);
int cmd_field(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace fm
