// interpose/hooks_spawn.cpp - calls that may give another process our fds
// without running fork()'s handlers: posix_spawn (glibc's uses clone with
// CLONE_VM|CLONE_VFORK), system() and popen() (they call glibc's own
// posix_spawn, which no preload sees), clone().
// Each is an escape for the in-process pairs (core::ep_files_may_escape()):
// the new process may keep a pipe's or a socketpair's end and write it
// with no hook of ours to see.  Made before the call, so that the items a
// partial read left suppressed are re-armed before the child can write.
#include <cerrno>
#include <sched.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::api {

using namespace uepoll::interpose;

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		char *const argv[], char *const envp[])
{
	if (!next_resolve() || !real.posix_spawn)
		return ENOSYS; // no raw call behind it: while dlsym runs, it fails
	core::ep_files_may_escape();
	return real.posix_spawn(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!next_resolve() || !real.posix_spawnp)
		return ENOSYS;
	core::ep_files_may_escape();
	return real.posix_spawnp(pid, file, fa, attr, argv, envp);
}

int clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *ptid, void *tls, pid_t *ctid)
{
	if (!next_resolve() || !real.clone) {
		errno = ENOSYS;
		return -1;
	}
	// A thread of this process shares our fds as any thread does.
	if (!(flags & CLONE_THREAD))
		core::ep_files_may_escape();
	return real.clone(fn, stack, flags, arg, ptid, tls, ctid);
}

int system(const char *command)
{
	if (!next_resolve() || !real.system)
		return -1;
	if (command) // system(NULL) only asks whether a shell exists
		core::ep_files_may_escape();
	return real.system(command);
}

FILE *popen(const char *command, const char *type)
{
	if (!next_resolve() || !real.popen) {
		errno = ENOSYS;
		return nullptr;
	}
	core::ep_files_may_escape();
	return real.popen(command, type);
}

} // namespace uepoll::api
