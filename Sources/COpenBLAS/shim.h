#include <cblas.h>
// cblas.h (OpenBLAS) already declares openblas_get_corename, openblas_get_config,
// openblas_set_num_threads and openblas_get_num_threads, which RepriseModel's BLASRuntime uses.

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/// Runs cpuid for (leaf, subleaf) into regs = {eax, ebx, ecx, edx}. Returns 0 (and zeros) when the leaf is
/// above the CPU's maximum or the machine is not x86.
static inline int reprise_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
    regs[0] = regs[1] = regs[2] = regs[3] = 0;
#if defined(__x86_64__) || defined(__i386__)
    return __get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]);
#else
    (void)leaf; (void)subleaf;
    return 0;
#endif
}

/// XCR0, the register state the operating system saves on context switches (which vector registers a
/// program may use). Only call it when cpuid(1).ecx bit 27 (OSXSAVE) is set; returns 0 off x86.
static inline unsigned long long reprise_xgetbv0(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
#else
    return 0;
#endif
}
