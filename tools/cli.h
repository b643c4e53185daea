// cli.h: the subcommands of `nn` (one file each, tools/cmd_*.c) and small helpers they share
// for reading options. Each command returns the process exit status: 0 ok, 1 an error it has
// already printed to stderr, 2 a usage error, 130 interrupted.
#ifndef NN_CLI_H
#define NN_CLI_H

#include <stddef.h>
#include <stdio.h>

int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_gpuinfo(int argc, char **argv);
int cmd_prepare(int argc, char **argv);

// Option parsing: argv[i] is "--name"; the value is argv[i+1]. Each returns 0 ok or prints
// "nn CMD: --name: ..." to stderr and returns -1.
int cli_int(const char *cmd, const char *name, const char *val, long lo, long hi, int *out);
int cli_float(const char *cmd, const char *name, const char *val, double lo, double hi, double *out);
// Fetches the value after an option, or complains that it is missing.
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
// "nn CMD: unknown option X (see nn CMD --help)"; returns 2.
int cli_unknown(const char *cmd, const char *arg);
int cli_is_help(const char *arg);

// Names that come from files and folders (image paths, class and layer names) printed to the
// terminal: a control character (an ESC sequence, a newline) becomes '?', the rule error lines
// follow (nn_fail), so a name can neither act on the terminal nor break a one-line-per-image
// output. UTF-8 text is kept. cli_printable copies into buf (truncating to len) and returns it.
void cli_put_name(FILE *f, const char *s);
const char *cli_printable(const char *s, char *buf, size_t len);

#endif
