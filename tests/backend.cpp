// tests/backend.cpp - the native (libc) and uepoll (shim/api.hpp) backends.
#include "tests/backend.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifndef UEPOLL_TESTS_NATIVE_ONLY
#include "core/eventpoll.hpp"
#include "shim/api.hpp"
#endif

namespace uepoll::test {
namespace {

struct native final : backend {
	const char *name() const override { return "native"; }
	bool is_native() const override { return true; }
	int epoll_create(int size) override { return ::epoll_create(size); }
	int epoll_create1(int flags) override { return ::epoll_create1(flags); }
	int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) override { return ::epoll_ctl(epfd, op, fd, ev); }
	int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout) override
	{
		return ::epoll_wait(epfd, evs, max, timeout);
	}
	int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask) override
	{
		return ::epoll_pwait(epfd, evs, max, timeout, mask);
	}
	int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
			 const sigset_t *mask) override
	{
		return ::epoll_pwait2(epfd, evs, max, ts, mask);
	}
	int close(int fd) override { return ::close(fd); }
	int close_range(unsigned first, unsigned last, int flags) override { return ::close_range(first, last, flags); }
	int dup(int fd) override { return ::dup(fd); }
	int dup2(int oldfd, int newfd) override { return ::dup2(oldfd, newfd); }
	int dup3(int oldfd, int newfd, int flags) override { return ::dup3(oldfd, newfd, flags); }
	int fcntl_dupfd(int fd, int minfd, bool cloexec) override
	{
		return ::fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd);
	}
	int pipe2(int fds[2], int flags) override { return ::pipe2(fds, flags); }
	int socketpair(int d, int t, int p, int sv[2]) override { return ::socketpair(d, t, p, sv); }
	int socket(int d, int t, int p) override { return ::socket(d, t, p); }
	int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) override { return ::accept4(fd, a, l, flags); }
	int connect(int fd, const struct sockaddr *a, socklen_t l) override { return ::connect(fd, a, l); }
	int shutdown(int fd, int how) override { return ::shutdown(fd, how); }
	int bind(int fd, const struct sockaddr *a, socklen_t l) override { return ::bind(fd, a, l); }
	int listen(int fd, int backlog) override { return ::listen(fd, backlog); }
	int eventfd(unsigned v, int flags) override { return ::eventfd(v, flags); }
	ssize_t read(int fd, void *buf, size_t len) override { return ::read(fd, buf, len); }
	ssize_t write(int fd, const void *buf, size_t len) override { return ::write(fd, buf, len); }
	ssize_t recv(int fd, void *buf, size_t len, int flags) override { return ::recv(fd, buf, len, flags); }
	ssize_t send(int fd, const void *buf, size_t len, int flags) override { return ::send(fd, buf, len, flags); }
	int poll(struct pollfd *fds, nfds_t n, int timeout) override { return ::poll(fds, n, timeout); }
	int pthread_cancel(pthread_t thread) override { return ::pthread_cancel(thread); }
	// With libuepoll.so preloaded (the fuzzer's --preload side), its
	// pollers; in a native process there is no such symbol.
	void settle_pollers() override
	{
		if (auto *fn = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "uepoll_settle_pollers")))
			fn();
	}
};

#ifndef UEPOLL_TESTS_NATIVE_ONLY
struct uepoll final : backend {
	const char *name() const override { return "uepoll"; }
	bool is_native() const override { return false; }
	void tiers(int idle_waits) override { core::tiers_configure(idle_waits > 0, idle_waits); }
	void settle_pollers() override { core::tiers_settle(); }
	long cold_items() override { return static_cast<long>(core::stats().cold); }
	int epoll_create(int size) override { return api::epoll_create(size); }
	int epoll_create1(int flags) override { return api::epoll_create1(flags); }
	int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) override { return api::epoll_ctl(epfd, op, fd, ev); }
	int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout) override
	{
		return api::epoll_wait(epfd, evs, max, timeout);
	}
	int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask) override
	{
		return api::epoll_pwait(epfd, evs, max, timeout, mask);
	}
	int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
			 const sigset_t *mask) override
	{
		return api::epoll_pwait2(epfd, evs, max, ts, mask);
	}
	int close(int fd) override { return api::close(fd); }
	int close_range(unsigned first, unsigned last, int flags) override { return api::close_range(first, last, flags); }
	int dup(int fd) override { return api::dup(fd); }
	int dup2(int oldfd, int newfd) override { return api::dup2(oldfd, newfd); }
	int dup3(int oldfd, int newfd, int flags) override { return api::dup3(oldfd, newfd, flags); }
	int fcntl_dupfd(int fd, int minfd, bool cloexec) override
	{
		return api::fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd);
	}
	int pipe2(int fds[2], int flags) override { return api::pipe2(fds, flags); }
	int socketpair(int d, int t, int p, int sv[2]) override { return api::socketpair(d, t, p, sv); }
	int socket(int d, int t, int p) override { return api::socket(d, t, p); }
	int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) override { return api::accept4(fd, a, l, flags); }
	int connect(int fd, const struct sockaddr *a, socklen_t l) override { return api::connect(fd, a, l); }
	int shutdown(int fd, int how) override { return api::shutdown(fd, how); }
	int bind(int fd, const struct sockaddr *a, socklen_t l) override { return api::bind(fd, a, l); }
	int listen(int fd, int backlog) override { return api::listen(fd, backlog); }
	int eventfd(unsigned v, int flags) override { return api::eventfd(v, flags); }
	ssize_t read(int fd, void *buf, size_t len) override { return api::read(fd, buf, len); }
	ssize_t write(int fd, const void *buf, size_t len) override { return api::write(fd, buf, len); }
	ssize_t recv(int fd, void *buf, size_t len, int flags) override { return api::recv(fd, buf, len, flags); }
	ssize_t send(int fd, const void *buf, size_t len, int flags) override { return api::send(fd, buf, len, flags); }
	int poll(struct pollfd *fds, nfds_t n, int timeout) override { return api::poll(fds, n, timeout); }
	int pthread_cancel(pthread_t thread) override { return api::pthread_cancel(thread); }
};
#endif

} // namespace

backend &native_backend()
{
	static native b;
	return b;
}

backend &uepoll_backend()
{
#ifdef UEPOLL_TESTS_NATIVE_ONLY
	return native_backend();
#else
	static uepoll b;
	return b;
#endif
}

std::string backend_name(backend *b) { return b->name(); }

} // namespace uepoll::test
