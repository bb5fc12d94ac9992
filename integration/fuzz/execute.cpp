// integration/fuzz/execute.cpp - the op handlers: each makes its calls
// through the side's backend, records the results, updates the model and,
// when asked, writes the GoogleTest statement that repeats it.
//
// Nothing here may block or depend on timing: every fd is non-blocking,
// epoll_wait always has timeout 0, and the only waits are bounded waits
// for the kernel (a connection reaching the accept queue, an armed timerfd
// expiring, loopback packets and TCP/ICMP state settling: settle()), which
// end before anything is recorded.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "integration/fuzz/steps.hpp"
#include "integration/fuzz/world.hpp"
#include "tests/trace.hpp"

namespace uepoll::fuzz {

namespace {

// TCP: at most this many bytes written per connection end.  Far below the
// loopback send buffer and the receive window, so a write is always taken
// whole and delivered at once: no retransmission or window timers.
constexpr long TCP_WRITE_CAP = 16384;
constexpr int MAX_PENDING = 8;
constexpr size_t BUFSZ = 1 << 17;

char wbuf[BUFSZ];
char rbuf[BUFSZ];

std::string lit(const std::string &s) { return "\"" + s + "\""; }

bool readable(int fd)
{
	pollfd p{fd, POLLIN, 0};
	return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

} // namespace

world::world(const side &sd, bool emit_code) : s(sd), emit(emit_code)
{
	std::fill(std::begin(slot), std::end(slot), -1);
}

// ---- model ------------------------------------------------------------------

uint32_t world::file_at(int fd) const
{
	auto it = fds.find(fd);
	return it == fds.end() ? 0 : it->second;
}

int world::fd_of_file(uint32_t f) const
{
	for (auto &[fd, g] : fds)
		if (g == f)
			return fd;
	return -1;
}

// Deviation 1 is narrowed to the files where a writer may be outside the
// process or no byte count exists (core/io_hints.cpp, read_leaves_no_edge()):
// a pipe, an AF_UNIX stream socketpair or a loopback TCP connection whose
// other end is still open here (non-blocking, as every fuzzer fd), a TCP
// one once every byte its peer sent is acknowledged, reports a partial read
// that filled the buffer as the kernel does.  Called right after the read,
// before any settle.
bool world::in_process_stream(uint32_t f) const
{
	const ofile &o = files[f];
	bool stream = o.kind == fkind::pipe_r || (o.kind == fkind::unix_sock && !o.dgram && !o.seqpacket) ||
		      o.kind == fkind::tcp;
	if (!stream || !o.peer || files[o.peer].released)
		return false;
	int pfd = fd_of_file(o.peer);
	if (pfd < 0)
		return false;
	// An EPOLLEXCLUSIVE ET item keeps the re-arm (its wake-up walk skips
	// differently): the whole file keeps the deviation.
	for (const item &i : items)
		if (i.file == f && (i.events & EPOLLET) && (i.events & EPOLLEXCLUSIVE))
			return false;
	int q = -1;
	return o.kind != fkind::tcp || (ioctl(pfd, SIOCOUTQ, &q) == 0 && q == 0);
}

bool world::is_inet(uint32_t f) const
{
	fkind k = files[f].kind;
	return k == fkind::tcp || k == fkind::listener || k == fkind::udp;
}

uint32_t world::new_file(fkind k)
{
	ofile f;
	f.kind = k;
	files.push_back(f);
	return static_cast<uint32_t>(files.size() - 1);
}

void world::opened(int fd, uint32_t f, int slot_index)
{
	replaced(fd, f);
	if (slot_index >= 0)
		slot[slot_index] = fd;
}

void world::closed_number(int fd)
{
	auto it = fds.find(fd);
	if (it == fds.end())
		return;
	uint32_t f = it->second;
	fds.erase(it);
	if (!has_fd(f))
		release(f);
}

// fd now refers to file f (a creation, or dup2 onto an open number).
void world::replaced(int fd, uint32_t f)
{
	uint32_t old = file_at(fd);
	fds[fd] = f;
	if (old && old != f && !has_fd(old))
		release(old);
}

// The last fd of f went away: the kernel removes its items from every
// instance, and an instance's own items go with it.
void world::release(uint32_t f)
{
	files[f].released = true;
	if (files[f].kind == fkind::epoll && on_epoll_release)
		on_epoll_release();
	auto gone = [f](const item &i) { return i.file == f || i.ep == f; };
	for (auto &i : items)
		if (gone(i))
			retire(i.data);
	items.erase(std::remove_if(items.begin(), items.end(), gone), items.end());
}

void world::model_ctl(int epfd, int op, int fd, const struct epoll_event *ev)
{
	uint32_t ep = file_at(epfd), f = file_at(fd);
	auto it = std::find_if(items.begin(), items.end(),
			       [&](const item &i) { return i.ep == ep && i.file == f && i.fd == fd; });
	if (op == EPOLL_CTL_ADD) {
		items.push_back({ep, f, fd, ev->events, ev->data.u64});
	} else if (it != items.end() && op == EPOLL_CTL_MOD) {
		if (it->data != ev->data.u64)
			retire(it->data);
		it->events = ev->events;
		it->data = ev->data.u64;
	} else if (it != items.end() && op == EPOLL_CTL_DEL) {
		retire(it->data);
		items.erase(it);
	}
}

// After an op on an inet socket: wait for the kernel (steps.hpp, settle()).
void world::settle()
{
	std::vector<int> v;
	for (auto &[fd, f] : fds)
		if (is_inet(f))
			v.push_back(fd);
	// A socket that expected an ICMP error and was closed since: nothing to
	// wait for.
	std::erase_if(expect_icmp, [this](int fd) { return !file_at(fd) || files[file_at(fd)].kind != fkind::udp; });
	if (v.empty())
		return;
	if (!fuzz::settle(v, expect_icmp)) {
		static bool told;
		if (!told)
			fprintf(stderr, "uepoll-fuzz: %s: settle gave up after %ld ms (%s)\n", s.name,
				SETTLE_LIMIT_US / 1000, label.c_str());
		told = true;
	}
	// What the kernel did reached the fds; on uepoll, a cold fd's readiness
	// reaches its item once its shard's poller has run (core/tiers.cpp).
	s.b->settle_pollers();
	std::string expect;
	for (int fd : expect_icmp)
		expect += (expect.empty() ? "" : ", ") + fd_expr(fd);
	mark_icmp_errors();
	expect_icmp.clear();
	code("settle({std::begin(s), std::end(s)}" + (expect.empty() ? "" : ", {" + expect + "}") + ");");
	code("b.settle_pollers();");
}

// Documented deviation 2 (icmp_error_late): the UDP sockets that settle
// waited for and that now show POLLERR got their error from the ICMP port
// unreachable, after the send returned.  The kernel queued their items then
// (in every instance); uepoll sees the error at its next poll of the file.
void world::mark_icmp_errors()
{
	for (int fd : expect_icmp) {
		uint32_t f = file_at(fd);
		if (!f || files[f].kind != fkind::udp)
			continue;
		pollfd p{fd, POLLIN, 0};
		if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLERR))
			continue;
		for (auto &i : items)
			if (i.file == f)
				i.icmp_late = true;
	}
}

// ---- recording ----------------------------------------------------------------

long world::step(const std::string &suffix, long ret, const std::string &extra)
{
	int e = errno;
	std::string r;
	if (ret < 0)
		r = "-1 " + std::string(strerrorname_np(e) ? strerrorname_np(e) : std::to_string(e).c_str());
	else
		r = std::to_string(ret);
	lines.push_back({label + suffix + " = " + r + extra, ""});
	errno = e;
	return ret;
}

void world::code(const std::string &c)
{
	if (emit)
		lines.push_back({"", "code:" + c});
}

void world::record_events(const std::string &suffix, int n, const struct epoll_event *evs)
{
	if (n < 0) {
		step(suffix, n);
		return;
	}
	std::vector<std::string> v;
	for (int i = 0; i < n; i++)
		v.push_back(" {" + test::event_bits(evs[i].events) + " data=" + hex(evs[i].data.u64) + "}");
	std::sort(v.begin(), v.end());
	std::string s = label + suffix + " = " + std::to_string(n);
	for (auto &x : v)
		s += x;
	lines.push_back({s, ""});
}

// ---- operands -------------------------------------------------------------------

bool world::operand(int v, int &fd) const
{
	switch (v) {
	case OPND_MINUS1:
	case OPND_SAME:
		fd = -1;
		return true;
	case OPND_UNUSED:
		fd = UNUSED_FD;
		return true;
	case OPND_HUGE:
		fd = INT_MAX;
		return true;
	default:
		if (v < 0 || v >= NSLOTS || slot[v] < 0)
			return false;
		fd = slot[v];
		return true;
	}
}

std::string world::expr(int v) const
{
	switch (v) {
	case OPND_MINUS1:
	case OPND_SAME:
		return "-1";
	case OPND_UNUSED:
		return std::to_string(UNUSED_FD);
	case OPND_HUGE:
		return "INT_MAX";
	default:
		return "s[" + std::to_string(v) + "]";
	}
}

std::string world::fd_expr(int fd) const
{
	for (int i = 0; i < NSLOTS; i++)
		if (slot[i] == fd)
			return "s[" + std::to_string(i) + "]";
	return std::to_string(fd);
}

// ---- creators -----------------------------------------------------------------------

void world::do_epoll_create(const op &o)
{
	static const char *calls[] = {"b.epoll_create1(0)", "b.epoll_create1(EPOLL_CLOEXEC)", "b.epoll_create1(0x1234)"};
	int r;
	std::string call;
	if (o.x < 3) {
		r = o.x == 0 ? s.b->epoll_create1(0) : o.x == 1 ? s.b->epoll_create1(EPOLL_CLOEXEC) : s.b->epoll_create1(0x1234);
		call = calls[o.x];
	} else {
		r = s.b->epoll_create(o.y);
		call = "b.epoll_create(" + std::to_string(o.y) + ")";
	}
	step("", r);
	code("keep(" + std::to_string(o.a) + ", t.step(" + lit(label) + ", " + call + "));");
	if (r >= 0)
		opened(r, new_file(fkind::epoll), o.a);
}

void world::do_pipe(const op &o)
{
	int p[2];
	int flags = O_NONBLOCK | (o.x ? O_CLOEXEC : 0);
	int r = s.b->pipe2(p, flags);
	step("", r, r == 0 ? " [" + std::to_string(p[0]) + "," + std::to_string(p[1]) + "]" : "");
	code("{ int p[2]; if (t.step(" + lit(label) + ", b.pipe2(p, " + std::to_string(flags) + ")) == 0) { s[" +
	     std::to_string(o.a) + "] = p[0]; s[" + std::to_string(o.b) + "] = p[1]; } }");
	if (r != 0)
		return;
	uint32_t rd = new_file(fkind::pipe_r), wr = new_file(fkind::pipe_w);
	files[rd].peer = wr;
	files[wr].peer = rd;
	opened(p[0], rd, o.a);
	opened(p[1], wr, o.b);
}

void world::do_socketpair(const op &o)
{
	int sv[2];
	int type = o.x | SOCK_NONBLOCK | SOCK_CLOEXEC;
	int r = s.b->socketpair(AF_UNIX, type, 0, sv);
	step("", r, r == 0 ? " [" + std::to_string(sv[0]) + "," + std::to_string(sv[1]) + "]" : "");
	code("{ int sv[2]; if (t.step(" + lit(label) + ", b.socketpair(AF_UNIX, " + std::to_string(type) +
	     ", 0, sv)) == 0) { s[" + std::to_string(o.a) + "] = sv[0]; s[" + std::to_string(o.b) + "] = sv[1]; } }");
	if (r != 0)
		return;
	uint32_t x = new_file(fkind::unix_sock), y = new_file(fkind::unix_sock);
	files[x].dgram = files[y].dgram = o.x == SOCK_DGRAM;
	files[x].seqpacket = files[y].seqpacket = o.x == SOCK_SEQPACKET;
	files[x].peer = y;
	files[y].peer = x;
	opened(sv[0], x, o.a);
	opened(sv[1], y, o.b);
}

void world::do_tcp_pair(const op &o)
{
	int l = lo_listen(*s.b);
	int c = l >= 0 ? lo_connect(*s.b, l) : -1;
	int a = c >= 0 ? lo_accept(*s.b, l) : -1;
	int e = errno;
	if (l >= 0)
		s.b->close(l);
	errno = e;
	step("", a < 0 ? -1 : 0, a < 0 ? "" : " [" + std::to_string(c) + "," + std::to_string(a) + "]");
	code("{ int l = lo_listen(b), c = l >= 0 ? lo_connect(b, l) : -1, a = c >= 0 ? lo_accept(b, l) : -1; if (l >= 0) "
	     "b.close(l); t.step(" + lit(label) + ", a < 0 ? -1 : 0); keep(" + std::to_string(o.a) + ", c); keep(" +
	     std::to_string(o.b) + ", a); }");
	if (c >= 0) {
		uint32_t fc = new_file(fkind::tcp);
		opened(c, fc, o.a);
		if (a >= 0) {
			uint32_t fa = new_file(fkind::tcp);
			files[fc].peer = fa;
			files[fa].peer = fc;
			opened(a, fa, o.b);
		}
	}
	settle();
}

void world::do_listener(const op &o)
{
	int l = lo_listen(*s.b);
	int c = l >= 0 ? lo_connect(*s.b, l) : -1;
	step("", c < 0 ? -1 : 0, c < 0 ? "" : " [" + std::to_string(l) + "," + std::to_string(c) + "]");
	code("{ int l = lo_listen(b), c = l >= 0 ? lo_connect(b, l) : -1; t.step(" + lit(label) +
	     ", c < 0 ? -1 : 0); keep(" + std::to_string(o.a) + ", l); keep(" + std::to_string(o.b) + ", c); }");
	if (l < 0)
		return;
	uint32_t fl = new_file(fkind::listener);
	opened(l, fl, o.a);
	if (c >= 0) {
		uint32_t fc = new_file(fkind::tcp);
		files[fl].pending.push_back(fc);
		opened(c, fc, o.b);
	}
	settle();
}

void world::do_connect(const op &o)
{
	int l;
	if (!operand(o.a, l))
		return note("skip");
	uint32_t fl = file_at(l);
	// Only onto a listener with room in its queue: a full queue drops the
	// SYN and the client would retry on a timer.
	if (!fl || files[fl].kind != fkind::listener || files[fl].pending.size() >= MAX_PENDING)
		return note("skip");
	int c = lo_connect(*s.b, l);
	step("", c);
	code("keep(" + std::to_string(o.b) + ", t.step(" + lit(label) + ", lo_connect(b, " + expr(o.a) + ")));");
	if (c < 0)
		return;
	uint32_t fc = new_file(fkind::tcp);
	files[fl].pending.push_back(fc);
	opened(c, fc, o.b);
	settle();
}

void world::do_accept(const op &o)
{
	int l;
	if (!operand(o.a, l))
		return note("skip");
	int a = lo_accept(*s.b, l);
	step("", a);
	code("keep(" + std::to_string(o.b) + ", t.step(" + lit(label) + ", lo_accept(b, " + expr(o.a) + ")));");
	if (a < 0)
		return;
	uint32_t fa = new_file(fkind::tcp);
	uint32_t fl = file_at(l);
	// An accept that leaves connections queued is a partial read of the
	// listener (deviation 1).
	if (fl)
		files[fl].et_partial = readable(l);
	if (fl && !files[fl].pending.empty()) {
		uint32_t fc = files[fl].pending.front();
		files[fl].pending.pop_front();
		files[fa].peer = fc;
		files[fc].peer = fa;
	}
	opened(a, fa, o.b);
	settle();
}

void world::do_udp_pair(const op &o)
{
	int x, y;
	bool ok = udp_pair(*s.b, &x, &y) == 0;
	step("", ok ? 0 : -1, ok ? " [" + std::to_string(x) + "," + std::to_string(y) + "]" : "");
	code("{ int x, y; t.step(" + lit(label) + ", udp_pair(b, &x, &y)); keep(" + std::to_string(o.a) + ", x); keep(" +
	     std::to_string(o.b) + ", y); }");
	uint32_t fx = 0, fy = 0;
	if (x >= 0)
		opened(x, fx = new_file(fkind::udp), o.a);
	if (y >= 0)
		opened(y, fy = new_file(fkind::udp), o.b);
	if (ok) {
		files[fx].peer = fy;
		files[fy].peer = fx;
	}
	settle();
}

void world::do_eventfd(const op &o)
{
	int flags = EFD_NONBLOCK | EFD_CLOEXEC | (o.y ? EFD_SEMAPHORE : 0);
	int r = s.b->eventfd(static_cast<unsigned>(o.x), flags);
	step("", r);
	code("keep(" + std::to_string(o.a) + ", t.step(" + lit(label) + ", b.eventfd(" + std::to_string(o.x) + ", " +
	     std::to_string(flags) + ")));");
	if (r >= 0)
		opened(r, new_file(fkind::eventfd), o.a);
}

// Expired, or armed an hour ahead (steps.hpp, timer()).
void world::do_timerfd(const op &o)
{
	int ready;
	int r = timer(o.x != 0, &ready);
	step("", r, " ready=" + std::to_string(ready));
	code("keep(" + std::to_string(o.a) + ", t.step(" + lit(label) + ", timer(" + (o.x ? "true" : "false") + ")));");
	if (r >= 0)
		opened(r, new_file(fkind::timerfd), o.a);
}

void world::do_regular(const op &o)
{
	static const char *calls[] = {"::open(\"/tmp\", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)",
				      "::open(\"/dev/null\", O_RDWR | O_CLOEXEC)",
				      "::open(\"/tmp\", O_RDONLY | O_DIRECTORY | O_CLOEXEC)"};
	int r = o.x == 0 ? ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
	      : o.x == 1 ? ::open("/dev/null", O_RDWR | O_CLOEXEC)
			 : ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	step("", r);
	code("keep(" + std::to_string(o.a) + ", t.step(" + lit(label) + ", " + calls[o.x % 3] + "));");
	if (r >= 0)
		opened(r, new_file(fkind::regular), o.a);
}

// ---- epoll ----------------------------------------------------------------------------

void world::do_ctl(const op &o)
{
	int ep, fd;
	if (!operand(o.a, ep) || !operand(o.b, fd))
		return note("skip");
	if (o.b == OPND_SAME)
		fd = ep;
	epoll_event ev{};
	ev.events = o.mask;
	ev.data.u64 = o.data;
	int r = s.b->epoll_ctl(ep, o.x, fd, o.y ? nullptr : &ev);
	step("", r);
	code(std::string(o.y ? "" : "ev.events = 0x" + hex(o.mask) + "u; ev.data.u64 = 0x" + hex(o.data) + "ull; ") +
	     "t.step(" + lit(label) + ", b.epoll_ctl(" + expr(o.a) + ", " + std::to_string(o.x) + ", " +
	     (o.b == OPND_SAME ? expr(o.a) : expr(o.b)) + ", " + (o.y ? "nullptr" : "&ev") + "));");
	if (r == 0)
		model_ctl(ep, o.x, fd, &ev);
}

// The data of the EPOLLET items of instance epf whose file is marked
// et_partial (documented deviation 1), as the note lists them (" <hex>"
// each); their files go into *files_out once each.  The same deviation
// seen through nesting: an item of epf whose file is an instance with such
// items (at any depth) is listed too, since uepoll's extra report makes
// that instance readable; its leaf files are the ones to drain, and the
// ONESHOT ones among those items go into *oneshot_out (an extra report
// disarmed them on uepoll only: resync_oneshot() re-arms them on both).
std::string world::et_partial_items(uint32_t epf, std::vector<uint32_t> *files_out, std::vector<item> *oneshot_out,
				    int depth) const
{
	std::string etp;
	if (!epf || files[epf].kind != fkind::epoll || depth > 5)
		return etp;
	for (auto &i : items) {
		if (i.ep != epf)
			continue;
		if ((i.events & EPOLLET) && files[i.file].et_partial) {
			etp += " " + hex(i.data);
			if (files_out && std::find(files_out->begin(), files_out->end(), i.file) == files_out->end())
				files_out->push_back(i.file);
		} else if (i.extra_ok) {
			etp += " " + hex(i.data);
		} else if (i.file != epf && files[i.file].kind == fkind::epoll &&
			   !et_partial_items(i.file, files_out, nullptr, depth + 1).empty()) {
			etp += " " + hex(i.data);
			if (oneshot_out && (i.events & EPOLLONESHOT))
				oneshot_out->push_back(i);
		}
	}
	return etp;
}

// After such a wait, both runs MOD the listed ONESHOT items of nested
// instances with their own events: armed again on both sides, whatever
// either reported.
void world::resync_oneshot(const std::vector<item> &nested)
{
	for (const item &i : nested) {
		int epfd = fd_of_file(i.ep);
		if (epfd < 0)
			continue;
		epoll_event ev{};
		ev.events = i.events;
		ev.data.u64 = i.data;
		int r = s.b->epoll_ctl(epfd, EPOLL_CTL_MOD, i.fd, &ev);
		step(" resync: MOD fd " + std::to_string(i.fd) + " in fd " + std::to_string(epfd), r);
		code("{ epoll_event e{}; e.events = 0x" + hex(i.events) + "u; e.data.u64 = 0x" + hex(i.data) +
		     "ull; t.step(" + lit(label + " resync: MOD") + ", b.epoll_ctl(" + fd_expr(epfd) +
		     ", EPOLL_CTL_MOD, " + fd_expr(i.fd) + ", &e)); }");
		if (r == 0)
			model_ctl(epfd, EPOLL_CTL_MOD, i.fd, &ev);
	}
}

void world::do_wait(const op &o)
{
	int ep;
	if (!operand(o.a, ep))
		return note("skip");
	// Documented deviation 1: the EPOLLET items of this instance whose file
	// had a partial read and nothing new since may be reported by uepoll.
	std::vector<uint32_t> drain;
	std::vector<item> oneshot;
	std::string etp = et_partial_items(file_at(ep), &drain, &oneshot);
	// Documented deviation 2 (icmp_error_late): items of this instance whose
	// UDP file got an ICMP error since; the kernel queued them when it
	// arrived, uepoll at this wait's poll, so they may come in another order.
	std::string icmpl;
	uint32_t epf = file_at(ep);
	for (auto &i : items)
		if (epf && i.ep == epf && i.icmp_late)
			icmpl += " " + hex(i.data);
	// With such items, a short buffer could let uepoll's extra report (or
	// its other order) push out another item, which would then differ at
	// every later wait: both runs take the whole ready list instead.
	bool raise = (!drain.empty() || !icmpl.empty()) && o.x > 0 && o.x < 64;
	int max = raise ? 64 : o.x;
	epoll_event out[64];
	int n;
	std::string call;
	std::string args = expr(o.a) + ", out, " + std::to_string(max);
	if (o.y == 0) {
		n = s.b->epoll_wait(ep, out, max, 0);
		call = "b.epoll_wait(" + args + ", 0)";
	} else if (o.y == 1) {
		n = s.b->epoll_pwait(ep, out, max, 0, nullptr);
		call = "b.epoll_pwait(" + args + ", 0, nullptr)";
	} else {
		timespec ts{};
		n = s.b->epoll_pwait2(ep, out, max, &ts, nullptr);
		call = "b.epoll_pwait2(" + args + ", &ts0, nullptr)";
	}
	std::string why = !drain.empty() && !icmpl.empty() ? "et_partial, icmp_error_late"
			: !drain.empty()                     ? "et_partial"
							     : "icmp_error_late";
	record_events(raise ? " (max raised to 64: " + why + ")" : "", n, out);
	std::string nt;
	if (!etp.empty())
		nt = "etp" + etp;
	if (!icmpl.empty()) {
		std::string order;
		for (int k = 0; k < n; k++)
			order += " " + hex(out[k].data.u64);
		// Items whose place deviation 1 may have moved are listed too.
		std::string listed = icmpl;
		for (auto &i : items)
			if (epf && i.ep == epf && i.order_free && !i.icmp_late)
				listed += " " + hex(i.data);
		nt += (nt.empty() ? "" : ";") + std::string("icmp_error_late") + listed + ";order" + order;
		// Both runs now agree on where such an item is, unless it was
		// reported and stays queued (level-triggered): then its place still
		// differs.  A full buffer may have left it out: the mark stays.
		for (auto &i : items) {
			if (i.ep != epf || !i.icmp_late || n < 0 || n >= max)
				continue;
			bool reported = false;
			for (int k = 0; k < n; k++)
				reported |= out[k].data.u64 == i.data;
			if (!reported || (i.events & (EPOLLET | EPOLLONESHOT)))
				i.icmp_late = false;
		}
	}
	if (!nt.empty())
		lines.back().note = nt;
	// Deviation 1's places: a listed level-triggered item may now sit
	// elsewhere in uepoll's ready list; one that a wait taking the whole
	// list did not report is off the list on both sides.
	for (auto &i : items) {
		if (!epf || i.ep != epf || n < 0)
			continue;
		bool reported = false;
		for (int k = 0; k < n; k++)
			reported |= out[k].data.u64 == i.data;
		if ((" " + etp + " ").find(" " + hex(i.data) + " ") != std::string::npos &&
		    !(i.events & (EPOLLET | EPOLLONESHOT)))
			i.order_free = true;
		else if (!reported && n < max)
			i.order_free = false;
	}
	code("t.events(" + lit(label) + ", " + call + ", out);");
	// A wait that failed (EINVAL, EBADF) took nothing: uepoll's extra
	// report is still to come, the marks stay for the next one.
	if (n < 0)
		return;
	drain_et_partial(drain);
	resync_oneshot(oneshot);
	// The drained files, and every instance holding (at any depth) an
	// item on one: uepoll's extra report queued those items, and the
	// wake-ups it passed up queued the items watching those instances,
	// in every instance but this one.
	std::vector<uint32_t> touched = drain;
	for (bool grew = true; grew;) {
		grew = false;
		for (auto &i : items) {
			if (std::find(touched.begin(), touched.end(), i.file) != touched.end() &&
			    std::find(touched.begin(), touched.end(), i.ep) == touched.end()) {
				touched.push_back(i.ep);
				grew = true;
			}
		}
	}
	for (auto &i : items) {
		if (i.ep == epf)
			i.extra_ok = false;
		else if (std::find(touched.begin(), touched.end(), i.file) != touched.end() &&
			 ((i.events & EPOLLET) || files[i.file].kind == fkind::epoll))
			i.extra_ok = true;
	}
}

// After a wait on an instance with such items, both runs drain those files
// the same way, so that the runs agree again whatever was reported.
void world::drain_et_partial(const std::vector<uint32_t> &files_to_drain)
{
	for (uint32_t f : files_to_drain) {
		int fd = fd_of_file(f);
		bool capped;
		long total = drain(*s.b, fd, rbuf, BUFSZ, &capped);
		// A drain that stopped at its cap with the file still readable was
		// a partial read like any other (a semaphore eventfd gives 1 per
		// read, its counter can be near 2^64): the mark stays, by the same
		// rule as do_read.  A drain that reached EAGAIN or EOF clears it.
		files[f].et_partial = capped && readable(fd) && (files[f].et_partial || !in_process_stream(f));
		step(" resync: drain fd " + std::to_string(fd), total);
		code("t.step(" + lit(label + " resync: drain fd " + std::to_string(fd)) + ", drain(b, " + fd_expr(fd) + ", buf, sizeof buf));");
	}
}

// ---- I/O -------------------------------------------------------------------------------

void world::do_write(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	uint32_t f = file_at(fd);
	long len = o.x;
	if (f && files[f].kind == fkind::tcp)
		len = std::min(len, TCP_WRITE_CAP - files[f].sent);
	if (len <= 0)
		return note("skip");
	pattern(wbuf, o.id, len, o.data);
	ssize_t r = s.b->write(fd, wbuf, len);
	step(len != o.x ? " capped to " + std::to_string(len) : "", r);
	code("pattern(buf, " + std::to_string(o.id) + ", " + std::to_string(len) + ", 0x" + hex(o.data) + "ull); t.step(" +
	     lit(label) + ", b.write(" + expr(o.a) + ", buf, " + std::to_string(len) + "));");
	if (r > 0 && f) {
		if (files[f].kind == fkind::tcp)
			files[f].sent += r;
		// A datagram to a closed UDP peer: its port is unbound, the ICMP
		// port unreachable comes back and sets our error (POLLERR).
		if (files[f].kind == fkind::udp && files[f].peer && files[files[f].peer].released)
			expect_icmp.push_back(fd);
	}
	if (f && is_inet(f))
		settle();
}

void world::do_read(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	ssize_t r = s.b->read(fd, rbuf, static_cast<size_t>(o.x));
	step("", r, r > 0 ? " h=" + hex(fnv(rbuf, r)) : "");
	code("t.step(" + lit(label) + ", hashed(t, buf, b.read(" + expr(o.a) + ", buf, " + std::to_string(o.x) + ")));");
	uint32_t f = file_at(fd);
	// uepoll looks (FIONREAD) only after a read that filled its buffer; a
	// shorter one that left data (an urgent mark, a concurrent write)
	// re-arms as before.
	if (r > 0 && f)
		files[f].et_partial = readable(fd) && (files[f].et_partial || r < o.x || !in_process_stream(f));
	if (f && is_inet(f))
		settle();
}

void world::do_send_oob(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	uint32_t f = file_at(fd);
	if (f && files[f].kind == fkind::tcp && files[f].sent >= TCP_WRITE_CAP)
		return note("skip");
	ssize_t r = s.b->send(fd, "!", 1, MSG_OOB);
	step("", r);
	code("t.step(" + lit(label) + ", b.send(" + expr(o.a) + ", \"!\", 1, MSG_OOB));");
	if (r > 0 && f)
		files[f].sent += r;
	if (f && is_inet(f))
		settle();
}

// shutdown(2) wakes the socket's waiters: uepoll hooks it.
void world::do_shutdown(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	int r = s.b->shutdown(fd, o.x);
	step("", r);
	code("t.step(" + lit(label) + ", b.shutdown(" + expr(o.a) + ", " + std::to_string(o.x) + "));");
	uint32_t f = file_at(fd);
	if (f && is_inet(f))
		settle();
}

// ---- fd life -----------------------------------------------------------------------------

void world::do_close(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	uint32_t f = file_at(fd);
	int r = s.b->close(fd);
	step("", r);
	code("t.step(" + lit(label) + ", b.close(" + expr(o.a) + "));");
	if (r == 0)
		closed_number(fd);
	if (f && is_inet(f))
		settle();
}

void world::do_dup(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	int r = s.b->dup(fd);
	step("", r);
	code("keep(" + std::to_string(o.b) + ", t.step(" + lit(label) + ", b.dup(" + expr(o.a) + ")));");
	if (r >= 0)
		opened(r, file_at(fd), o.b);
}

void world::do_dup2(const op &o)
{
	int fd, nfd;
	if (!operand(o.a, fd) || !operand(o.b, nfd))
		return note("skip");
	uint32_t old = file_at(nfd);
	int r;
	std::string call;
	if (o.kind == op_kind::dup2) {
		r = s.b->dup2(fd, nfd);
		call = "b.dup2(" + expr(o.a) + ", " + expr(o.b) + ")";
	} else {
		r = s.b->dup3(fd, nfd, o.x ? O_CLOEXEC : 0);
		call = "b.dup3(" + expr(o.a) + ", " + expr(o.b) + ", " + (o.x ? "O_CLOEXEC" : "0") + ")";
	}
	step("", r);
	code("t.step(" + lit(label) + ", " + call + ");");
	if (r >= 0 && fd != nfd)
		replaced(nfd, file_at(fd));
	if (old && is_inet(old))
		settle();
}

void world::do_dupfd(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	int r = s.b->fcntl_dupfd(fd, o.x, o.y != 0);
	step("", r);
	code("keep(" + std::to_string(o.b) + ", t.step(" + lit(label) + ", b.fcntl_dupfd(" + expr(o.a) + ", " +
	     std::to_string(o.x) + ", " + (o.y ? "true" : "false") + ")));");
	if (r >= 0)
		opened(r, file_at(fd), o.b);
}

void world::do_close_range(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	unsigned first = static_cast<unsigned>(fd), last = first + static_cast<unsigned>(o.x);
	bool inet = false;
	for (unsigned n = first; n <= last && n <= INT_MAX; n++)
		if (uint32_t f = file_at(static_cast<int>(n)))
			inet |= is_inet(f);
	int r = s.b->close_range(first, last, 0);
	step("", r);
	code("t.step(" + lit(label) + ", b.close_range(" + expr(o.a) + ", " + expr(o.a) + " + " + std::to_string(o.x) +
	     ", 0));");
	if (r == 0)
		for (unsigned n = first; n <= last && n <= INT_MAX; n++)
			closed_number(static_cast<int>(n));
	if (inet)
		settle();
}

void world::do_poll(const op &o)
{
	int fd;
	if (!operand(o.a, fd))
		return note("skip");
	// Documented deviation 1 seen through poll(2) on an instance: uepoll's
	// extra report of a listed item makes the instance readable.  Nothing
	// is drained here (a poll consumes nothing); the marks stay, so the
	// next wait on the instance lists and drains them.
	std::string etp = et_partial_items(file_at(fd), nullptr);
	pollfd p{fd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0};
	int r = s.b->poll(&p, 1, 0);
	step("", r, r > 0 ? " revents=" + hex(p.revents) : "");
	if (!etp.empty())
		lines.back().note = "etp" + etp;
	code("{ pollfd p{" + expr(o.a) + ", POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0}; t.step(" + lit(label) +
	     ", b.poll(&p, 1, 0)); t.note(\"revents \" + std::to_string(p.revents)); }");
}

// The fan of nested instances (steps.hpp, fan_out()); all of them stay
// open to the end.
void world::do_fan(const op &o)
{
	int fd, into = -1;
	if (!operand(o.a, fd) || (o.b >= 0 && !operand(o.b, into)))
		return note("skip");
	code("fan(b, t, " + expr(o.a) + ", " + (o.b >= 0 ? expr(o.b) : "-1") + ", " + std::to_string(o.x) + ", " +
	     std::to_string(o.y) + ", " + std::to_string(o.id) + ", " + lit(label) + ");");
	fan_out(
		*s.b, fd, into, o.x, o.y, o.id,
		[&](int e, const std::string &what) {
			step(": " + what, e);
			if (e >= 0)
				opened(e, new_file(fkind::epoll), -1);
		},
		[&](int ep, int f, const epoll_event &ev, int r, const std::string &what) {
			step(": " + what, r);
			if (r == 0)
				model_ctl(ep, EPOLL_CTL_ADD, f, &ev);
		});
}

// ---- dispatch ------------------------------------------------------------------------------

void world::run(const op &o)
{
	label = describe(o);
	ops_run++;
	switch (o.kind) {
	case op_kind::epoll_create: return do_epoll_create(o);
	case op_kind::pipe: return do_pipe(o);
	case op_kind::socketpair: return do_socketpair(o);
	case op_kind::tcp_pair: return do_tcp_pair(o);
	case op_kind::listener: return do_listener(o);
	case op_kind::connect: return do_connect(o);
	case op_kind::accept: return do_accept(o);
	case op_kind::udp_pair: return do_udp_pair(o);
	case op_kind::eventfd: return do_eventfd(o);
	case op_kind::timerfd: return do_timerfd(o);
	case op_kind::regular: return do_regular(o);
	case op_kind::ctl: return do_ctl(o);
	case op_kind::wait: return do_wait(o);
	case op_kind::write: return do_write(o);
	case op_kind::read: return do_read(o);
	case op_kind::send_oob: return do_send_oob(o);
	case op_kind::shutdown: return do_shutdown(o);
	case op_kind::close: return do_close(o);
	case op_kind::dup: return do_dup(o);
	case op_kind::dup2:
	case op_kind::dup3: return do_dup2(o);
	case op_kind::dupfd: return do_dupfd(o);
	case op_kind::close_range: return do_close_range(o);
	case op_kind::poll: return do_poll(o);
	case op_kind::fan: return do_fan(o);
	case op_kind::count_: break;
	}
}

} // namespace uepoll::fuzz
