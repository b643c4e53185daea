// registry.h: the list of layer kinds, the one place a new kind is registered.
//
// Each entry is LAYER_KIND(ENUM, type): the enum value becomes LAYER_ENUM, and the kind's table
// entry is `type_ops` (layers/type.c), whose CUDA slots point at `type_cuda` (cuda/type_cuda.cu,
// or an empty entry in a build without CUDA: nn/cuda_stub.c makes one for every kind here).
// Adding a layer kind: its layer file, its kernel file, and one line below (docs/TOUR.md).
#ifndef NN_LAYER_REGISTRY_H
#define NN_LAYER_REGISTRY_H

#define LAYER_LIST(X)          \
    X(CONV2D, conv2d)          \
    X(MAXPOOL2D, maxpool2d)    \
    X(FLATTEN, flatten)        \
    X(DENSE, dense)            \
    X(ACTIVATION, activation)  \
    X(AVGPOOL2D, avgpool2d)    \
    X(GLOBALAVGPOOL, globalavgpool) \
    X(LEAKYRELU, leakyrelu)    \
    X(DROPOUT, dropout)        \
    X(BATCHNORM, batchnorm)

#endif
