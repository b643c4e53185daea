// adam.h: Adam exactly as Keras 3 applies it (keras/src/optimizers/adam.py):
//   t = iterations + 1
//   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
//   m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
//   w -= alpha * m / (sqrt(v) + epsilon)
// Note epsilon sits outside the square root and is not bias-corrected: torch.optim.Adam differs.
#ifndef NN_ADAM_H
#define NN_ADAM_H

#include <stddef.h>

typedef struct adam_cfg { float lr, beta1, beta2, epsilon; } adam_cfg;

static inline adam_cfg adam_defaults(void) { return (adam_cfg){0.001f, 0.9f, 0.999f, 1e-7f}; }

// One step over a whole arena of n parameters; t is the 1-based step number.
void adam_step(const adam_cfg *c, long t, size_t n, float *w, const float *g, float *m, float *v);
// The step size alpha for step t, computed as Keras does (float32).
float adam_alpha(const adam_cfg *c, long t);
// 1 - beta as Keras gets it (in double from the decimal the user wrote, then float32):
// adam_one_minus(0.999f) == 0.001f, where 1.0f - 0.999f == 0.00099998713f.
float adam_one_minus(float beta);

#endif
