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
 *     io_uring, or keep state in kernel objects that outlive it (System V IPC, POSIX message
 *     queues, keyrings) (a seccomp filter; refused with EPERM). (Executable memory cannot be refused here:
 *     Valgrind maps its own code cache executable as the program runs.)
 *   - under Valgrind, has no executable memory that could hold a client request (a request can
 *     switch the counting off or run code natively, uncounted): the code of Valgrind's preloaded
 *     library is unmapped, and the heap, which Valgrind maps executable, is made non-executable
 *     (its later growth follows). The verifier sees any later request for executable memory in
 *     Valgrind's system-call trace, and checks the program and the libraries for requests.
 *   - ends with _exit() once main returns or exit() is called (after flushing stdio), so that no
 *     code of an unmapped library runs at exit.
 * The rest is done from outside, by the verifier (pytest_autolab.native): every run starts in a
 * Landlock domain where nothing but the run's fresh private directory and its output files can
 * be written (Valgrind 3.19 cannot pass Landlock's system calls through, so the domain is entered
 * before Valgrind starts, not here), and a measured run is checked for Valgrind client requests.
 */
#ifndef AUTOLAB_HARNESS_H
#define AUTOLAB_HARNESS_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any #include: autolab_harness.h needs dl_iterate_phdr"
#endif

#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
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

/* ---- Valgrind: no executable memory that could hold a client request ----------------------- */

struct autolab_preload {
    int count;
    uintptr_t start[8], end[8];
};

static int autolab_find_preload(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct autolab_preload *found = data;
    const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    if (!name || strncmp(name + 1, "vgpreload_core", 14) != 0)
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum && found->count < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t at = info->dlpi_addr + ph->p_vaddr;
        found->start[found->count] = at & ~(page - 1);
        found->end[found->count] = (at + ph->p_memsz + page - 1) & ~(page - 1);
        found->count++;
    }
    return 0;
}

/* Valgrind maps the brk heap read-write-execute; it loses its execute permission here, and
 * Valgrind extends the heap with the permissions it has. The heap is what malloc took from brk
 * (mallinfo2().arena below the current break) plus the page Valgrind always maps: no reading of
 * /proc/self/maps, whose length differs from run to run, so the count stays the same. */
static void autolab_heap_not_executable(void)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), brk = (uintptr_t)sbrk(0);
    uintptr_t start = (brk - (uintptr_t)mallinfo2().arena) & ~(page - 1);
    uintptr_t end = (brk + page - 1) & ~(page - 1);
    if (end == start)
        end += page;
    if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE) != 0)
        autolab_die("cannot make the heap non-executable", strerror(errno));
}

static void autolab_exit_now(int status, void *arg)
{
    (void)arg;
    fflush(NULL);
    _exit(status);
}

static void autolab_no_client_requests(void)
{
    if (on_exit(autolab_exit_now, NULL) != 0)
        autolab_die("cannot register the exit handler", NULL);
    struct autolab_preload preload = {0};
    dl_iterate_phdr(autolab_find_preload, &preload);
    if (!preload.count)
        return; /* not under Valgrind */
    for (int i = 0; i < preload.count; i++)
        if (munmap((void *)preload.start[i], preload.end[i] - preload.start[i]) != 0)
            autolab_die("cannot unmap the code of Valgrind's preloaded library", strerror(errno));
    autolab_heap_not_executable();
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
        /* kernel objects that outlive the process (state between runs): System V IPC, POSIX message
           queues, keyrings */
        AUTOLAB_DENY(SYS_shmget),
        AUTOLAB_DENY(SYS_shmctl),
        AUTOLAB_DENY(SYS_msgget),
        AUTOLAB_DENY(SYS_msgsnd),
        AUTOLAB_DENY(SYS_msgrcv),
        AUTOLAB_DENY(SYS_msgctl),
        AUTOLAB_DENY(SYS_semget),
        AUTOLAB_DENY(SYS_semop),
        AUTOLAB_DENY(SYS_semtimedop),
        AUTOLAB_DENY(SYS_semctl),
        AUTOLAB_DENY(SYS_mq_open),
        AUTOLAB_DENY(SYS_mq_unlink),
        AUTOLAB_DENY(SYS_mq_timedsend),
        AUTOLAB_DENY(SYS_mq_timedreceive),
        AUTOLAB_DENY(SYS_mq_notify),
        AUTOLAB_DENY(SYS_mq_getsetattr),
        AUTOLAB_DENY(SYS_add_key),
        AUTOLAB_DENY(SYS_request_key),
        AUTOLAB_DENY(SYS_keyctl),
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
    autolab_no_client_requests();
    autolab_seccomp();
}

#endif
