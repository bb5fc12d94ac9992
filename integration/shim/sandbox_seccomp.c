/* integration/shim/sandbox_seccomp.c - epoll in a process whose seccomp
 * filter refuses kcmp and process_vm_readv/writev with EPERM, as Docker's
 * and podman's default profiles do for a container without CAP_SYS_PTRACE.
 * The filter is installed before the first epoll call, so under the shim
 * its start-up probe finds the calls refused and every copy and file
 * comparison takes its fallback (interpose/sys.hpp).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "shimtest.h"

int main(void)
{
	static const int nrs[] = {SYS_kcmp, SYS_process_vm_readv, SYS_process_vm_writev};
	st_seccomp_filter(nrs, 3, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC, 0);
	st_step("kcmp refused", syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0) == -1 && errno == EPERM);

	int ep = ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5a};
	st_step("add", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	st_step("mod, event at address 1", epoll_ctl(ep, EPOLL_CTL_MOD, efd, (struct epoll_event *)1));
	struct epoll_event evs[4];
	st_events("wait, one ready", epoll_wait(ep, evs, 4, 0), evs);
	/* A bad address the compiler cannot see through. */
	struct epoll_event *volatile bad = (struct epoll_event *)8;
	st_step("wait into address 8", epoll_wait(ep, bad, 4, 0));

	/* A pipe made and copied by calls the shim does not see: its identity
	 * must be found without kcmp when the original number is closed. */
	int p[2];
	ST_OK(syscall(SYS_pipe2, p, O_NONBLOCK | O_CLOEXEC));
	ev.data.u64 = 0x77;
	st_step("add pipe read end", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	int copy = ST_OK(syscall(SYS_dup, p[0]));
	st_step("close the original number", close(p[0]));
	st_step("write", write(p[1], "x", 1));
	st_events("wait: eventfd and the pipe's item", epoll_wait(ep, evs, 4, 1000), evs);
	close(copy);
	st_events("wait: the pipe's item gone with its last fd", epoll_wait(ep, evs, 4, 0), evs);
	return 0;
}
