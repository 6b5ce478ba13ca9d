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
 *   - cannot create processes or threads, exec a program, trace or write another process, use
 *     io_uring, or map or make memory executable (a seccomp filter; refused with EPERM);
 *   - holds no executable code with a Valgrind client request: the segments of shared objects
 *     that contain one (Valgrind's preload library) are unmapped, and a program that contains
 *     one itself is stopped (a request could switch the counting off or run code uncounted).
 * Files are confined from outside: the verifier (pytest_autolab.native) starts every run under a
 * Landlock domain in which nothing but the run's fresh private directory and its declared
 * outputs can be written. (Valgrind 3.19 cannot pass Landlock's system calls through, so the
 * domain is entered before Valgrind starts, not here.)
 */
#ifndef AUTOLAB_HARNESS_H
#define AUTOLAB_HARNESS_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any #include (autolab_harness.h needs dl_iterate_phdr and memmem)"
#endif

#include <errno.h>
#include <link.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void autolab_die(const char *what, const char *detail)
{
    fprintf(stderr, "autolab harness: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

/* ---- Valgrind client requests: none may be reachable ------------------------------------------ */

static const unsigned char autolab_client_request[16] = {0x48, 0xc1, 0xc7, 0x03, 0x48, 0xc1, 0xc7, 0x0d,
                                                         0x48, 0xc1, 0xc7, 0x3d, 0x48, 0xc1, 0xc7, 0x33};

#define AUTOLAB_MAX_UNMAP 16
struct autolab_unmap {
    int count;
    uintptr_t start[AUTOLAB_MAX_UNMAP], end[AUTOLAB_MAX_UNMAP];
};

static int autolab_scan_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct autolab_unmap *todo = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        const unsigned char *seg = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        if (!memmem(seg, ph->p_filesz, autolab_client_request, sizeof autolab_client_request))
            continue;
        if (!info->dlpi_name || !info->dlpi_name[0])
            autolab_die("the program contains a Valgrind client request", NULL);
        if (todo->count == AUTOLAB_MAX_UNMAP)
            autolab_die("too many shared objects with Valgrind client requests", info->dlpi_name);
        long page = sysconf(_SC_PAGESIZE);
        todo->start[todo->count] = (uintptr_t)seg & ~(uintptr_t)(page - 1);
        todo->end[todo->count] = ((uintptr_t)seg + ph->p_memsz + page - 1) & ~(uintptr_t)(page - 1);
        todo->count++;
    }
    return 0;
}

static void autolab_unmap_client_requests(void)
{
    struct autolab_unmap todo = {0};
    dl_iterate_phdr(autolab_scan_object, &todo);
    for (int i = 0; i < todo.count; i++)
        if (munmap((void *)todo.start[i], todo.end[i] - todo.start[i]) != 0)
            autolab_die("cannot unmap code that holds a Valgrind client request", strerror(errno));
}

/* ---- seccomp: no processes, threads, exec, tracing or executable memory ---------------------- */

#define AUTOLAB_DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
#define AUTOLAB_NO_EXEC_PROT(nr)                                                                             \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 3),                                                         \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),                          \
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),                                                \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

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
        AUTOLAB_NO_EXEC_PROT(SYS_mmap),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        AUTOLAB_NO_EXEC_PROT(SYS_mprotect),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        AUTOLAB_NO_EXEC_PROT(SYS_pkey_mprotect),
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
    autolab_unmap_client_requests();
    autolab_seccomp();
}

#endif
