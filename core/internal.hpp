// core/internal.hpp - what the core's files share and nobody else sees.
#pragma once

#include <ctime>

#include "core/eventpoll.hpp"

namespace uepoll::core {

extern const sys_ops *g_sys;
extern const file_ops *g_files;
// The instance this thread is the polling leader of, while inside ppoll.
extern thread_local eventpoll *tls_polling_ep;

// eventpoll.cpp
void ep_slot_update(eventpoll *ep, epitem *epi);
// What a wake-up walk saw: a LEVEL (poll(2) found the file ready, maybe
// ready as it was at the last walk) or an EDGE (something happened: a
// write in this process, a nested instance's callback).
enum class wake_kind { level, edge };
void file_wakeup(epfile *f, uint32_t revents, int depth, wake_kind kind);
// The level walk of what a blocked poller (a leader, the helper) saw on
// the slot of item `epi` armed at `epoch`.  The poller checked the epoch
// when ppoll returned, but the walk runs later, with no lock held: the
// item may have been reported and re-armed meanwhile, and what the poller
// saw is then stale.  The item's own callback checks the epoch again,
// under ep->lock.  `epi` is only compared, never dereferenced.
void file_wakeup_polled(epfile *f, uint32_t revents, const epitem *epi, uint32_t epoch);
uint32_t ep_eventpoll_poll(eventpoll *ep, int depth);
void ep_set_observed(eventpoll *ep);
void for_each_observed(void (*fn)(eventpoll *, void *), void *arg);

// loop_check.cpp: twins of ep_loop_check, reverse_path_check and the
// tfile_check_list; all under epnested_mutex.
void loop_check_begin();
void loop_check_done();
uint64_t loop_check_gen_now();
int ep_loop_check(eventpoll *ep, eventpoll *to);
void list_file(epfile *f);
int reverse_path_check();

// CLOCK_MONOTONIC in ns, from the vDSO (no system call): the age of I/O
// windows, on the I/O path.
inline long monotonic_ns()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

// helper.cpp: the process-wide poller of observed instances.
void helper_start();
void helper_kick();
void helper_wait_poll_leaves();
void helper_fork_prepare();
void helper_fork_parent();
void helper_fork_child();
void helper_stats(uint64_t *wakeups, uint64_t *polls);

// deferred.cpp: per-thread resources.
int tls_wake_fd();    // this thread's wake-up eventfd (-errno on failure)
void tls_fork_child();
// Queues a close() that a signal handler made while this thread held a
// uepoll lock; it runs when the thread leaves its last lock.
bool defer_close(int fd);

// The kernel's access_ok(): the range lies in user space.
bool user_range_ok(const void *p, size_t len);

} // namespace uepoll::core
