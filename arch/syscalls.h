/* Sizes of the generated system call tables (arch/gen-syscalls.py). */
#ifndef PTRACEFS_ARCH_SYSCALLS_H
#define PTRACEFS_ARCH_SYSCALLS_H

#define X86_64_NSYSCALLS 451
extern const char *const x86_64_syscall_names[X86_64_NSYSCALLS];
#define I386_NSYSCALLS 451
extern const char *const i386_syscall_names[I386_NSYSCALLS];
#define AARCH64_NSYSCALLS 451
extern const char *const aarch64_syscall_names[AARCH64_NSYSCALLS];
#define ARM_NSYSCALLS 451
extern const char *const arm_syscall_names[ARM_NSYSCALLS];
#define RISCV64_NSYSCALLS 451
extern const char *const riscv64_syscall_names[RISCV64_NSYSCALLS];
#define LOONGARCH64_NSYSCALLS 451
extern const char *const loongarch64_syscall_names[LOONGARCH64_NSYSCALLS];

#endif
