// cli.h: the subcommands of `nn` (one file each, tools/cmd_*.c) and small helpers they share
// for reading options. Each command returns the process exit status: 0 ok, 1 an error it has
// already printed to stderr, 2 a usage error, 130 interrupted.
#ifndef NN_CLI_H
#define NN_CLI_H

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

#endif
