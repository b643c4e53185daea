// ctx.c: the default context for the C path.
#include "ctx.h"

nn_ctx nn_ctx_cpu(void) { return (nn_ctx){.backend = NN_CPU, .device = 0, .threads = 0, .seed = 1}; }
