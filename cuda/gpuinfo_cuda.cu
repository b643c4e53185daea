// gpuinfo_cuda.cu: device queries for `nn gpuinfo`, from the CUDA runtime alone: what the
// article reads off lspci, nvidia-smi, lshw and inxi (name, bus, memory, clocks, driver), plus
// the figures that decide a kernel's speed (multiprocessors, cores, memory bandwidth, L2).
// defines: cuda_device_count, cuda_device_query, cuda_versions
//
// Clocks come from cudaDeviceGetAttribute: CUDA 13 removed cudaDeviceProp.clockRate and
// memoryClockRate. Nothing here dies: on a machine with no driver or no GPU every function
// answers with a reason, and `nn gpuinfo` prints it and exits 0.
#include <stdio.h>
#include <string.h>

#include "cuda_common.h"

extern "C" {
#include "../nn/cuda_api.h"
}

// CUDA cores (FP32 lanes) per multiprocessor, by compute capability, from NVIDIA's
// architecture white papers. 0 = not in the table (a newer chip): gpuinfo then says "unknown".
static int cores_per_sm(int major, int minor) {
    switch (major) {
    case 3: return 192;                       // Kepler
    case 5: return 128;                       // Maxwell
    case 6: return minor == 0 ? 64 : 128;     // Pascal: GP100 64, GP10x 128
    case 7: return 64;                        // Volta, Turing
    case 8: return minor == 0 ? 64 : 128;     // Ampere: A100 64, GA10x and Ada 128
    case 9: return 128;                       // Hopper
    case 10: case 11: case 12: return 128;    // Blackwell
    default: return 0;
    }
}

extern "C" int cuda_device_count(int *count, char *why) {
    *count = 0;
    cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) {
        cudaGetLastError();   // leave no sticky error behind for the next call
        *count = 0;
        return nn_fail(why, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    }
    if (*count == 0) return nn_fail(why, "the CUDA driver reports no device");
    return 0;
}

extern "C" void cuda_versions(int *driver, int *runtime) {
    *driver = 0;
    *runtime = 0;
    if (cudaDriverGetVersion(driver) != cudaSuccess) *driver = 0;
    if (cudaRuntimeGetVersion(runtime) != cudaSuccess) *runtime = 0;
    cudaGetLastError();
}

static int attr(cudaDeviceAttr a, int device) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, a, device) != cudaSuccess) {
        cudaGetLastError();
        v = 0;
    }
    return v;
}

extern "C" int cuda_device_query(int device, cuda_device_info *info, char *err) {
    memset(info, 0, sizeof *info);
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return nn_fail(err, "cannot read CUDA device %d: %s", device, cudaGetErrorString(e));
    }
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->major = p.major;
    info->minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->cores_per_sm = cores_per_sm(p.major, p.minor);
    info->mem_total = p.totalGlobalMem;
    info->l2_bytes = (size_t)p.l2CacheSize;
    info->bus_width_bits = p.memoryBusWidth;
    info->pci_domain = p.pciDomainID;
    info->pci_bus = p.pciBusID;
    info->pci_device = p.pciDeviceID;
    info->ecc = p.ECCEnabled;
    info->clock_khz = attr(cudaDevAttrClockRate, device);
    info->mem_clock_khz = attr(cudaDevAttrMemoryClockRate, device);
    // Double data rate: two transfers per memory clock, bus_width/8 bytes each.
    info->peak_bw_gbs = 2.0 * info->mem_clock_khz * 1e3 * (info->bus_width_bits / 8.0) / 1e9;
    // Free memory needs a context on the device; a device that refuses one still gets its
    // properties printed, with free memory left at 0.
    int prev = 0;
    size_t freeb = 0, total = 0;
    if (cudaGetDevice(&prev) == cudaSuccess && cudaSetDevice(device) == cudaSuccess &&
        cudaMemGetInfo(&freeb, &total) == cudaSuccess)
        info->mem_free = freeb;
    cudaSetDevice(prev);
    cudaGetLastError();
    return 0;
}
