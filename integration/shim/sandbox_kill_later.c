/* integration/shim/sandbox_kill_later.c - epoll in a process that installs,
 * after it has started using epoll, seccomp filters that KILL it for kcmp
 * and for process_vm_readv/writev (SECCOMP_RET_KILL_PROCESS: systemd's
 * default action, and libseccomp's SCMP_ACT_KILL_PROCESS).  The program
 * itself never makes those calls, so natively it runs to the end; under the
 * shim, the first kcmp or user copy made after the filter would kill it.
 * Then one that kills for timerfd_gettime (which the shim may use to name
 * an anon-inode file).  Filters go in through prctl(PR_SET_SECCOMP) or
 * syscall(SYS_seccomp), the two ways a program (or libseccomp) installs one.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "shimtest.h"

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

/* An eventfd and a timerfd made by calls the shim does not see: naming
 * an anon-inode file may ask timerfd_gettime() (a timerfd is the only file
 * it accepts), unless a filter kills for it. */
static void anon_unseen(int ep, const char *what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x88}, evs[4];
	int e = ST_OK(syscall(SYS_eventfd2, 1, EFD_NONBLOCK | EFD_CLOEXEC));
	int t = ST_OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
	st_step(what, epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev));
	ev.data.u64 = 0x99;
	st_step("add timerfd", epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev));
	st_events("wait: the eventfds", epoll_wait(ep, evs, 4, 0), evs);
	close(e);
	close(t);
}

int main(void)
{
	int ep = ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5a}, evs[4];
	st_step("add eventfd", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	pipe_through_copy(ep, "add pipe, no filter yet");

	static const int kcmp_nr[] = {SYS_kcmp};
	st_seccomp_filter(kcmp_nr, 1, SECCOMP_RET_KILL_PROCESS, 0, 1);
	pipe_through_copy(ep, "add pipe, kcmp kills");

	static const int timerfd_nr[] = {SYS_timerfd_gettime};
	st_seccomp_filter(timerfd_nr, 1, SECCOMP_RET_KILL_PROCESS, 0, 1);
	anon_unseen(ep, "add eventfd, timerfd_gettime kills");

	static const int vm_nrs[] = {SYS_process_vm_readv, SYS_process_vm_writev};
	st_seccomp_filter(vm_nrs, 2, SECCOMP_RET_KILL_PROCESS, 0, 0);
	st_step("mod, event at address 1", epoll_ctl(ep, EPOLL_CTL_MOD, efd, (struct epoll_event *)1));
	st_events("wait, one ready", epoll_wait(ep, evs, 4, 0), evs);
	struct epoll_event *volatile bad = (struct epoll_event *)8;
	st_step("wait into address 8", epoll_wait(ep, bad, 4, 0));
	pipe_through_copy(ep, "add pipe, copies kill too");
	return 0;
}
