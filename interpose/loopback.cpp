// interpose/loopback.cpp - sockets of this process that talk to each other
// over loopback.  The kernel wakes the receiving socket when data, a
// connection or a FIN arrives; with poll(2) underneath we see that only if
// we know who receives.  For a socketpair or a pipe the creating call tells
// us; for inet sockets these registries do:
//   - TCP: connect() records the client's address; accept() looks up the
//     peer of the socket it returns and pairs the two ends.
//   - listeners: listen() records the listening address; a connect() to it
//     from this process is a new connection: an IN edge on the listener.
//   - UDP: bind() records the address; a connect() of a UDP socket to it
//     pairs the two (a write on one is an edge on the other).
// All are empty, and cost one load, unless the program talks to itself.
// What arrives from another process or host is not seen here: that is
// deviation 2 of docs/deviations.md.
#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"

namespace uepoll::interpose {

namespace {

struct local_entry {
	sockaddr_storage addr;
	socklen_t len;
	core::epfile *file; // one reference
	sockaddr_storage dest; // a TCP client: where it connected
	unsigned long seq;     // order of registration (entries move when others go)
};

bool is_loopback(const struct sockaddr *a)
{
	if (!a)
		return false;
	if (a->sa_family == AF_INET)
		return (ntohl(reinterpret_cast<const sockaddr_in *>(a)->sin_addr.s_addr) >> 24) == 127;
	if (a->sa_family == AF_INET6) {
		const auto *a6 = reinterpret_cast<const sockaddr_in6 *>(a);
		return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr);
	}
	return false;
}

// Does a packet to dest reach a socket bound to local?  Same family and
// port, and the same address or the wildcard.
bool reaches(const struct sockaddr *dest, const sockaddr_storage &local)
{
	if (dest->sa_family != local.ss_family)
		return false;
	if (dest->sa_family == AF_INET) {
		const auto *d = reinterpret_cast<const sockaddr_in *>(dest);
		const auto *l = reinterpret_cast<const sockaddr_in *>(&local);
		return d->sin_port == l->sin_port &&
		       (l->sin_addr.s_addr == htonl(INADDR_ANY) || l->sin_addr.s_addr == d->sin_addr.s_addr);
	}
	const auto *d = reinterpret_cast<const sockaddr_in6 *>(dest);
	const auto *l = reinterpret_cast<const sockaddr_in6 *>(&local);
	return d->sin6_port == l->sin6_port &&
	       (IN6_IS_ADDR_UNSPECIFIED(&l->sin6_addr) || IN6_ARE_ADDR_EQUAL(&l->sin6_addr, &d->sin6_addr));
}

// TCP clients of ours closed before an accept() paired them: their
// addresses, the newest overwriting the oldest, no reference held.  The
// connection waits in the listener's queue with the client's FIN, and the
// client is an orphan that answers data with an RST (tcp_rcv_state_process,
// TCPABORTONDATA): accept() marks the socket it returns (peer_closed), as
// the close of a paired client does (uepoll-fuzz seed 2094072589 program
// 2391).  Under the registry's lock.
// An entry is the client's address and where it connected: a connection
// from another process that happens to use the same source port, to
// another of our listeners, is not taken for it.
struct closed_clients {
	static constexpr int MAX = 32;
	sockaddr_storage addr[MAX]{}, dest[MAX]{};
	socklen_t len[MAX] = {};
	int next = 0, n = 0;

	void add(const sockaddr_storage &a, socklen_t l, const sockaddr_storage &d)
	{
		n += len[next] == 0;
		addr[next] = a;
		dest[next] = d;
		len[next] = l;
		next = (next + 1) % MAX;
	}
	// Takes the entry of a client at (a, l) that connected to a listener
	// at `local` out, if there is one.
	bool take(const sockaddr_storage &a, socklen_t l, const sockaddr_storage &local)
	{
		for (int i = 0; i < MAX; i++)
			if (len[i] == l && l && memcmp(&addr[i], &a, l) == 0 &&
			    reaches(reinterpret_cast<const sockaddr *>(&dest[i]), local)) {
				len[i] = 0;
				n--;
				return true;
			}
		return false;
	}
};

// A fixed table of entries, dropped when their file dies.
struct registry {
	static constexpr int MAX = 128;
	local_entry e[MAX]{};
	int n = 0;
	unsigned long next_seq = 0;
	core::spinlock lock;
	closed_clients *closed = nullptr; // where dead entries' addresses go (TCP clients)

	// Drops entries whose file is gone.  Called with lock held.
	void sweep()
	{
		for (int i = 0; i < n;) {
			if (e[i].file->dead.load(std::memory_order_acquire)) {
				if (closed)
					closed->add(e[i].addr, e[i].len, e[i].dest);
				core::epfile_put(e[i].file);
				e[i] = e[--n];
			} else {
				i++;
			}
		}
	}
	bool empty()
	{
		std::lock_guard g(lock);
		return n == 0 && (!closed || closed->n == 0);
	}
	// Takes over the reference f.
	void add(const sockaddr_storage &a, socklen_t len, core::epfile *f, const sockaddr_storage *dest = nullptr)
	{
		std::lock_guard g(lock);
		sweep();
		if (n == MAX) {
			core::epfile_put(f);
			return;
		}
		e[n++] = {a, len, f, dest ? *dest : sockaddr_storage{}, next_seq++};
	}
};

constinit closed_clients tcp_closed_clients;
// Connected TCP clients, until accept() pairs them.
struct tcp_client_registry : registry {
	constexpr tcp_client_registry() { closed = &tcp_closed_clients; }
};
constinit tcp_client_registry tcp_clients;
registry listeners;   // listening sockets
registry udp_bound;   // bound UDP sockets

// The first registered socket that dest reaches, referenced, or null.
core::epfile *lookup(registry &r, const struct sockaddr *dest)
{
	std::lock_guard g(r.lock);
	r.sweep();
	for (int i = 0; i < r.n; i++) {
		if (reaches(dest, r.e[i].addr) && core::epfile_tryget(r.e[i].file))
			return r.e[i].file;
	}
	return nullptr;
}

bool local_name(int fd, sockaddr_storage *a, socklen_t *len)
{
	*len = sizeof *a;
	return raw_syscall(SYS_getsockname, fd, reinterpret_cast<long>(a), reinterpret_cast<long>(len)) == 0;
}

void remember(registry &r, int fd)
{
	sockaddr_storage me;
	socklen_t len;
	if (!local_name(fd, &me, &len) || (me.ss_family != AF_INET && me.ss_family != AF_INET6))
		return;
	long err;
	if (core::epfile *f = fdt_get(fd, &err))
		r.add(me, len, f);
}

} // namespace

void loopback_listening(int fd) { remember(listeners, fd); }

core::epfile *loopback_listener_for(const struct sockaddr *dest)
{
	if (!is_loopback(dest) || listeners.empty())
		return nullptr;
	return lookup(listeners, dest);
}

void loopback_bound(int fd)
{
	long err;
	core::epfile *f = fdt_get(fd, &err);
	if (!f)
		return;
	bool dgram = f->kind == core::file_kind::inet_dgram;
	core::epfile_put(f);
	if (dgram)
		remember(udp_bound, fd);
}

void loopback_connected(int fd, const struct sockaddr *dest)
{
	if (!is_loopback(dest))
		return;
	long err;
	core::epfile *f = fdt_get(fd, &err);
	if (!f)
		return;
	if (f->kind == core::file_kind::inet_dgram) {
		// A UDP socket of ours aims at another: pair them.
		if (core::epfile *to = udp_bound.empty() ? nullptr : lookup(udp_bound, dest)) {
			if (to != f)
				core::epfile_link_peers(f, to);
			core::epfile_put(to);
		}
		core::epfile_put(f);
		return;
	}
	sockaddr_storage me, to{};
	socklen_t len;
	if (!local_name(fd, &me, &len)) {
		core::epfile_put(f);
		return;
	}
	memcpy(&to, dest, dest->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
	tcp_clients.add(me, len, f, &to);
}

// Twin of inet_csk_listen_stop(): each connection still in the accept
// queue is disconnected with an RST (inet_child_forget -> tcp_disconnect),
// in the queue's order (reqsk_queue_remove() takes its head): a client of
// ours at the other end is reset, an ERR|HUP wake-up, the first connected
// first.  The listener is one no more.
static void listen_stop(core::epfile *f)
{
	if (listeners.empty())
		return;
	sockaddr_storage at;
	bool found = false;
	{
		std::lock_guard g(listeners.lock);
		for (int i = 0; i < listeners.n; i++) {
			if (listeners.e[i].file == f) {
				at = listeners.e[i].addr;
				core::epfile_put(f);
				listeners.e[i] = listeners.e[--listeners.n];
				found = true;
				break;
			}
		}
	}
	if (!found)
		return;
	struct {
		core::epfile *file; // the entry's reference
		unsigned long seq;
	} reset[16];
	int nreset = 0;
	{
		std::lock_guard g(tcp_clients.lock);
		for (int i = 0; i < tcp_clients.n && nreset < 16;) {
			local_entry &e = tcp_clients.e[i];
			if (reaches(reinterpret_cast<const sockaddr *>(&e.dest), at)) {
				reset[nreset++] = {e.file, e.seq};
				e = tcp_clients.e[--tcp_clients.n];
			} else {
				i++;
			}
		}
	}
	// The table's order is not the connections' (a removal moves the
	// last entry into its place): the order of registration is.
	std::sort(reset, reset + nreset, [](const auto &a, const auto &b) { return a.seq < b.seq; });
	for (int i = 0; i < nreset; i++) {
		core::ep_io_hint(reset[i].file, core::io_event::rst, 0, 0);
		core::epfile_put(reset[i].file);
	}
}

// The last fd of listener f closes: tcp_close() -> inet_csk_listen_stop().
void loopback_closing(core::epfile *f) { listen_stop(f); }

// shutdown(SHUT_RD or SHUT_RDWR) of a listener that succeeded:
// inet_shutdown() on TCP_LISTEN -> tcp_disconnect() -> inet_csk_listen_stop(),
// before the listener's own sk_state_change().  SHUT_WR leaves it listening.
void loopback_shutdown(core::epfile *f, int how)
{
	if (how == SHUT_RD || how == SHUT_RDWR)
		listen_stop(f);
}

void loopback_accepted(int fd)
{
	if (tcp_clients.empty())
		return;
	sockaddr_storage peer;
	socklen_t len = sizeof peer;
	if (raw_syscall(SYS_getpeername, fd, reinterpret_cast<long>(&peer), reinterpret_cast<long>(&len)) < 0)
		return;
	core::epfile *client = nullptr;
	bool client_closed = false, maybe_closed;
	{
		std::lock_guard g(tcp_clients.lock);
		tcp_clients.sweep();
		for (int i = 0; i < tcp_clients.n; i++) {
			local_entry &e = tcp_clients.e[i];
			if (e.len == len && memcmp(&e.addr, &peer, len) == 0) {
				client = e.file;
				e = tcp_clients.e[--tcp_clients.n];
				break;
			}
		}
		maybe_closed = !client && tcp_closed_clients.n;
	}
	if (maybe_closed) {
		sockaddr_storage local;
		socklen_t llen;
		if (local_name(fd, &local, &llen)) {
			std::lock_guard g(tcp_clients.lock);
			client_closed = tcp_closed_clients.take(peer, len, local);
		}
	}
	long err;
	if (client_closed) {
		if (core::epfile *server = fdt_get(fd, &err)) {
			server->peer_closed.store(true, std::memory_order_relaxed);
			core::epfile_put(server);
		}
		return;
	}
	if (!client)
		return;
	if (core::epfile *server = fdt_get(fd, &err)) {
		core::epfile_link_peers(server, client);
		core::epfile_put(server);
	}
	core::epfile_put(client);
}

} // namespace uepoll::interpose
