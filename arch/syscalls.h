/* Sizes of the generated system call tables (arch/gen-syscalls.py). */
#ifndef PTRACEFS_ARCH_SYSCALLS_H
#define PTRACEFS_ARCH_SYSCALLS_H

#define X86_64_NSYSCALLS 451
extern const char *const x86_64_syscall_names[X86_64_NSYSCALLS];
#define I386_NSYSCALLS 451
extern const char *const i386_syscall_names[I386_NSYSCALLS];
#define ARM_NSYSCALLS 451
extern const char *const arm_syscall_names[ARM_NSYSCALLS];
#define GENERIC_NSYSCALLS 451
extern const char *const generic_syscall_names[GENERIC_NSYSCALLS];
#define RISCV64_NSYSCALL_DELTA 2
extern const struct arch_syscall riscv64_syscall_delta[RISCV64_NSYSCALL_DELTA];
#define LOONGARCH64_NSYSCALL_DELTA 6
extern const struct arch_syscall loongarch64_syscall_delta[LOONGARCH64_NSYSCALL_DELTA];

#endif
