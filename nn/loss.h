// loss.h: binary cross-entropy and binary accuracy, both from logits z (pre-sigmoid).
// BCE(z, y) = max(z, 0) - z*y + log1p(exp(-|z|)): never log(0), exact for saturated outputs.
#ifndef NN_LOSS_H
#define NN_LOSS_H

// Mean loss over n samples; when dz != NULL writes dL/dz = (sigmoid(z) - y) / n.
float bce_logits(int n, const float *z, const float *y, float *dz);
// The same with the gradient divided by grad_n instead (a data-parallel step's global batch).
float bce_logits_n(int n, const float *z, const float *y, float *dz, int grad_n);
// Number of samples where (sigmoid(z) > 0.5) == (y > 0.5), Keras's binary_accuracy threshold.
int binary_correct(int n, const float *z, const float *y);
float sigmoidf_stable(float z);

#endif
