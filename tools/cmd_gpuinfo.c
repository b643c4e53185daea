// cmd_gpuinfo.c: `nn gpuinfo`, what the article's lspci, nvidia-smi, lshw and inxi commands tell
// about the GPU, read from the CUDA runtime (cuda/gpuinfo_cuda.cu): name, PCI address, compute
// capability, multiprocessors and CUDA cores, memory total and free, clocks, memory bus and its
// theoretical bandwidth, L2, driver and runtime versions. A machine without a GPU or a driver
// (or a build without CUDA) gets one clear line and exit status 0: having no GPU is an answer,
// not an error.
#include <stdio.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "cli.h"

static const char *arch_name(int major, int minor) {
    switch (major) {
    case 3: return "Kepler";
    case 5: return "Maxwell";
    case 6: return "Pascal";
    case 7: return minor >= 5 ? "Turing" : "Volta";
    case 8: return minor == 9 ? "Ada Lovelace" : "Ampere";
    case 9: return "Hopper";
    case 10: case 11: case 12: return "Blackwell";
    default: return "unknown architecture";
    }
}

static void version(char *buf, size_t len, int v) {
    if (v) snprintf(buf, len, "%d.%d", v / 1000, v % 1000 / 10);
    else snprintf(buf, len, "none");
}

int cmd_gpuinfo(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: nn gpuinfo\n  describes each CUDA GPU (or says there is none; exit status 0 "
                   "either way)\n");
            return 0;
        }
        return cli_unknown("gpuinfo", argv[i]);
    }
    int count = 0, driver = 0, runtime = 0;
    char why[NN_ERRLEN], dv[32], rv[32];
    cuda_versions(&driver, &runtime);
    version(dv, sizeof dv, driver);
    version(rv, sizeof rv, runtime);
    if (cuda_device_count(&count, why)) {
        if (runtime && !driver)   // the runtime's own words ("driver version is insufficient") mislead here
            printf("no usable CUDA GPU: no NVIDIA driver is loaded on this machine (CUDA runtime %s: %s)\n", rv,
                   why);
        else
            printf("no usable CUDA GPU: %s (CUDA driver %s, runtime %s)\n", why, dv, rv);
        return 0;
    }
    printf("CUDA driver %s, runtime %s; %d device%s\n", dv, rv, count, count == 1 ? "" : "s");
    for (int dev = 0; dev < count; dev++) {
        cuda_device_info g;
        if (cuda_device_query(dev, &g, why)) {
            printf("GPU %d: %s\n", dev, why);
            continue;
        }
        printf("GPU %d: %s\n", dev, g.name);
        printf("  PCI address          %04x:%02x:%02x.0\n", g.pci_domain, g.pci_bus, g.pci_device);
        printf("  compute capability   %d.%d (%s)\n", g.major, g.minor, arch_name(g.major, g.minor));
        if (g.cores_per_sm)
            printf("  multiprocessors      %d x %d CUDA cores = %d cores\n", g.sm_count, g.cores_per_sm,
                   g.sm_count * g.cores_per_sm);
        else
            printf("  multiprocessors      %d (CUDA cores per multiprocessor unknown for %d.%d)\n", g.sm_count,
                   g.major, g.minor);
        printf("  memory               %.1f GiB total, %.1f GiB free%s\n", g.mem_total / 1073741824.0,
               g.mem_free / 1073741824.0, g.ecc ? ", ECC on" : "");
        printf("  memory bus           %d-bit at %.0f MHz: %.0f GB/s theoretical\n", g.bus_width_bits,
               g.mem_clock_khz / 1e3, g.peak_bw_gbs);
        printf("  SM clock             %.0f MHz (peak)\n", g.clock_khz / 1e3);
        printf("  L2 cache             %.1f MiB\n", g.l2_bytes / 1048576.0);
    }
    return 0;
}
