/*
 * autolab_harness.h: the lockdown of every native task's harness (read-only).
 *
 * The canonical copy is pytest_autolab/native/autolab_harness.h; each native task carries an
 * identical copy in its environment/ (a test of pytest-autolab catches a copy that drifts).
 *
 *     int main(int argc, char **argv)
 *     {
 *         ... open every file the run needs (input, output) and read the input ...
 *         autolab_lockdown();            // from here on, only computation
 *         solve(...);                    // the submission's code
 *         ... write the output to the file opened above ...
 *     }
 *
 * After autolab_lockdown() returns, the process (and Valgrind, when it runs under Valgrind):
 *   - cannot create processes or threads, exec a program, trace or write another process, or use
 *     io_uring (a seccomp filter; refused with EPERM). (Executable memory cannot be refused here:
 *     Valgrind maps its own code cache executable as the program runs.)
 * The rest is done from outside, by the verifier (pytest_autolab.native): every run starts in a
 * Landlock domain where nothing but the run's fresh private directory and its output files can
 * be written (Valgrind 3.19 cannot pass Landlock's system calls through, so the domain is entered
 * before Valgrind starts, not here), and a measured run is checked for Valgrind client requests.
 */
#ifndef AUTOLAB_HARNESS_H
#define AUTOLAB_HARNESS_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static void autolab_die(const char *what, const char *detail)
{
    fprintf(stderr, "autolab harness: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

/* ---- seccomp: no processes, threads, exec or tracing ----------------------------------------- */

#define AUTOLAB_DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
static void autolab_seccomp(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1), /* the x32 ABI */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        AUTOLAB_DENY(SYS_clone),
        AUTOLAB_DENY(435 /* clone3 */),
        AUTOLAB_DENY(SYS_fork),
        AUTOLAB_DENY(SYS_vfork),
        AUTOLAB_DENY(SYS_execve),
        AUTOLAB_DENY(SYS_execveat),
        AUTOLAB_DENY(SYS_ptrace),
        AUTOLAB_DENY(SYS_process_vm_readv),
        AUTOLAB_DENY(SYS_process_vm_writev),
        AUTOLAB_DENY(425 /* io_uring_setup */),
        AUTOLAB_DENY(426 /* io_uring_enter */),
        AUTOLAB_DENY(427 /* io_uring_register */),
        AUTOLAB_DENY(SYS_personality),
        AUTOLAB_DENY(SYS_shmat),
        AUTOLAB_DENY(SYS_remap_file_pages),
        AUTOLAB_DENY(SYS_userfaultfd),
        AUTOLAB_DENY(SYS_perf_event_open),
        AUTOLAB_DENY(SYS_bpf),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        autolab_die("cannot install the seccomp filter", strerror(errno));
}

/* Call once, after opening every file the run needs and before the submission's code runs. */
static void autolab_lockdown(void)
{
    fflush(NULL);
    autolab_seccomp();
}

#endif
