// loss.h: the two losses nn trains with, both from logits (the last layer's activation is left
// to the loss: model_pass_act), and their accuracies. Which one a model trains with is
// model_loss_kind's decision (nn/model.h), made in that one place.
//  - binary cross-entropy from one logit z (pre-sigmoid), Keras's binary_crossentropy:
//    BCE(z, y) = max(z, 0) - z*y + log1p(exp(-|z|)): never log(0), exact for saturated outputs;
//    accuracy is Keras's binary_accuracy (sigmoid(z) > 0.5, i.e. z > 0).
//  - categorical cross-entropy from c logits (pre-softmax), Keras's categorical_crossentropy with
//    the one-hot label given as its class index (a float holding 0 .. c-1, as the loader gives
//    it): CCE(z, k) = logsumexp(z) - z_k, taken as max + log(sum exp(z - max)) so that no exp
//    overflows; accuracy is Keras's categorical_accuracy (argmax z == k, the first maximum on a
//    tie, as numpy's argmax).
#ifndef NN_LOSS_H
#define NN_LOSS_H

typedef enum {
    LOSS_NONE = 0,   // the model cannot be trained by nn (say, several sigmoid or linear outputs)
    LOSS_BCE,        // one output, trained as a sigmoid unit: two classes
    LOSS_CCE,        // a softmax over c >= 2 outputs: c classes
} loss_kind;

// Keras's name of the loss ("binary_crossentropy", "categorical_crossentropy"; "none").
const char *loss_keras_name(loss_kind k);

// Mean loss over n samples; when dz != NULL writes dL/dz = (sigmoid(z) - y) / n.
float bce_logits(int n, const float *z, const float *y, float *dz);
// The same with the gradient divided by grad_n instead (a data-parallel step's global batch).
float bce_logits_n(int n, const float *z, const float *y, float *dz, int grad_n);
// Number of samples where (sigmoid(z) > 0.5) == (y > 0.5), Keras's binary_accuracy threshold.
int binary_correct(int n, const float *z, const float *y);
float sigmoidf_stable(float z);

// Mean categorical cross-entropy over n samples of c logits z (n, c), labels y (n) holding class
// indices; when dz != NULL writes dL/dz (n, c) = (softmax(z) - onehot(y)) / grad_n. Sums in
// double. A label that is not an index 0 .. c-1 makes the loss NaN (and its row of dz NaN), so
// that training stops as for a diverged step rather than learning from a wrong class.
float cce_logits_n(int n, int c, const float *z, const float *y, float *dz, int grad_n);
float cce_logits(int n, int c, const float *z, const float *y, float *dz);
// Number of samples whose largest logit is at their label.
int categorical_correct(int n, int c, const float *z, const float *y);
// Index of the largest of c values (the first on a tie; NaN never wins).
int argmax_row(int c, const float *z);
// The class index a float label holds, or -1 when it holds none of 0 .. c-1.
int label_index(float y, int c);
// Probabilities from logits, row by row (n, c) -> out (may be z): the stable softmax.
void softmax_logits(int n, int c, const float *z, float *out);

#endif
