/* integration/shim/sandbox_kill_later.c - epoll in a process that installs,
 * after it has started using epoll, seccomp filters that KILL it for kcmp
 * and for process_vm_readv/writev (SECCOMP_RET_KILL_PROCESS: systemd's
 * default action, and libseccomp's SCMP_ACT_KILL_PROCESS).  The program
 * itself never makes those calls, so natively it runs to the end; under the
 * shim, the first kcmp or user copy made after the filter would kill it.
 * One filter goes in through prctl(PR_SET_SECCOMP), the other through
 * syscall(SYS_seccomp), the two ways a program (or libseccomp) installs one.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "shimtest.h"

static struct sock_fprog kill_on(const int *nrs, int n, struct sock_filter *f)
{
	int k = 0;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return (struct sock_fprog){(unsigned short)k, f};
}

/* A pipe made and copied by calls the shim does not see, its original
 * number closed: finding that the copy is the same file is kcmp's job. */
static void pipe_through_copy(int ep, const char *what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x77}, evs[4];
	int p[2];
	ST_OK(syscall(SYS_pipe2, p, O_NONBLOCK | O_CLOEXEC));
	st_step(what, epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	int copy = ST_OK(syscall(SYS_dup, p[0]));
	st_step("close the original number", close(p[0]));
	st_step("write", write(p[1], "x", 1));
	st_events("wait: the pipe's item", epoll_wait(ep, evs, 4, 1000), evs);
	close(copy);
	st_events("wait: gone with its last fd", epoll_wait(ep, evs, 4, 0), evs);
	close(p[1]);
}

int main(void)
{
	int ep = ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5a}, evs[4];
	st_step("add eventfd", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	pipe_through_copy(ep, "add pipe, no filter yet");

	struct sock_filter f[16];
	static const int kcmp_nr[] = {SYS_kcmp};
	struct sock_fprog prog = kill_on(kcmp_nr, 1, f);
	ST_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ST_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
	pipe_through_copy(ep, "add pipe, kcmp kills");

	static const int vm_nrs[] = {SYS_process_vm_readv, SYS_process_vm_writev};
	prog = kill_on(vm_nrs, 2, f);
	ST_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
	st_step("mod, event at address 1", epoll_ctl(ep, EPOLL_CTL_MOD, efd, (struct epoll_event *)1));
	st_events("wait, one ready", epoll_wait(ep, evs, 4, 0), evs);
	struct epoll_event *volatile bad = (struct epoll_event *)8;
	st_step("wait into address 8", epoll_wait(ep, bad, 4, 0));
	pipe_through_copy(ep, "add pipe, copies kill too");
	return 0;
}
