// integration/fuzz/describe.cpp - ops as readable text.
#include <cstdio>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "integration/fuzz/program.hpp"

namespace uepoll::fuzz {

std::string mask_str(uint32_t m)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{EPOLLIN, "IN"},         {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},         {EPOLLERR, "ERR"},
		{EPOLLHUP, "HUP"},       {EPOLLRDNORM, "RDNORM"}, {EPOLLRDBAND, "RDBAND"},   {EPOLLWRNORM, "WRNORM"},
		{EPOLLWRBAND, "WRBAND"}, {EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},     {EPOLLEXCLUSIVE, "EXCLUSIVE"},
		{EPOLLWAKEUP, "WAKEUP"}, {EPOLLONESHOT, "ONESHOT"}, {EPOLLET, "ET"},
	};
	std::string s;
	for (auto &n : names) {
		if (m & n.bit) {
			s += s.empty() ? "" : "|";
			s += n.name;
			m &= ~n.bit;
		}
	}
	if (m) {
		char buf[16];
		snprintf(buf, sizeof buf, "%s0x%x", s.empty() ? "" : "|", m);
		s += buf;
	}
	return s.empty() ? "0" : s;
}

static std::string opnd(int v)
{
	switch (v) {
	case OPND_MINUS1:
		return "fd-1";
	case OPND_UNUSED:
		return "fd" + std::to_string(UNUSED_FD);
	case OPND_SAME:
		return "epfd";
	case OPND_HUGE:
		return "fdINT_MAX";
	default:
		// 's', not "s": GCC 12 at -O3 warns falsely (-Wrestrict, GCC PR
		// 105651) on a one-char literal + std::string&&.
		return 's' + std::to_string(v);
	}
}

static const char *ctl_op_name(int op)
{
	switch (op) {
	case EPOLL_CTL_ADD:
		return "ADD";
	case EPOLL_CTL_MOD:
		return "MOD";
	case EPOLL_CTL_DEL:
		return "DEL";
	default:
		return nullptr;
	}
}

static std::string sock_type(int t)
{
	return t == SOCK_STREAM ? "STREAM" : t == SOCK_DGRAM ? "DGRAM" : t == SOCK_SEQPACKET ? "SEQPACKET" : std::to_string(t);
}

static std::string args(const op &o)
{
	std::string a = opnd(o.a), b = opnd(o.b), x = std::to_string(o.x), y = std::to_string(o.y);
	switch (o.kind) {
	case op_kind::epoll_create:
		return "epoll_create(" + a + (o.x == 0 ? ", 0" : o.x == 1 ? ", CLOEXEC" : o.x == 2 ? ", 0x1234" : ", size=" + y) + ")";
	case op_kind::pipe:
		return "pipe(" + a + ", " + b + (o.x ? ", CLOEXEC" : "") + ")";
	case op_kind::socketpair:
		return "socketpair(" + a + ", " + b + ", " + sock_type(o.x) + ")";
	case op_kind::tcp_pair:
		return "tcp_pair(" + a + ", " + b + ")";
	case op_kind::listener:
		return "listener(" + a + ", client " + b + ")";
	case op_kind::connect:
		return "connect(listener " + a + ", client " + b + ")";
	case op_kind::accept:
		return "accept(" + a + " -> " + b + ")";
	case op_kind::udp_pair:
		return "udp_pair(" + a + ", " + b + ")";
	case op_kind::eventfd:
		return "eventfd(" + a + ", " + x + (o.y ? ", SEMAPHORE" : "") + ")";
	case op_kind::timerfd:
		return "timerfd(" + a + (o.x ? ", expired" : ", far") + ")";
	case op_kind::regular:
		return "regular(" + a + (o.x == 0 ? ", tmpfile" : o.x == 1 ? ", /dev/null" : ", dir") + ")";
	case op_kind::ctl: {
		const char *n = ctl_op_name(o.x);
		return "ctl(" + a + ", " + (n ? n : "op" + x) + ", " + b + ", " +
		       (o.y ? std::string("NULL") : mask_str(o.mask)) + ")";
	}
	case op_kind::wait:
		return std::string(o.y == 0 ? "epoll_wait(" : o.y == 1 ? "epoll_pwait(" : "epoll_pwait2(") + a +
		       ", max=" + x + ", 0)";
	case op_kind::write:
		return "write(" + a + ", " + x + ")";
	case op_kind::read:
		return "read(" + a + ", " + x + ")";
	case op_kind::send_oob:
		return "send_oob(" + a + ")";
	case op_kind::shutdown:
		return "shutdown(" + a + (o.x == SHUT_RD ? ", RD)" : o.x == SHUT_WR ? ", WR)" : ", RDWR)");
	case op_kind::close:
		return "close(" + a + ")";
	case op_kind::dup:
		return "dup(" + a + " -> " + b + ")";
	case op_kind::dup2:
		return "dup2(" + a + ", " + b + ")";
	case op_kind::dup3:
		return "dup3(" + a + ", " + b + (o.x ? ", CLOEXEC)" : ", 0)");
	case op_kind::dupfd:
		return "fcntl(" + a + (o.y ? ", F_DUPFD_CLOEXEC, " : ", F_DUPFD, ") + x + " -> " + b + ")";
	case op_kind::close_range:
		return "close_range(" + a + ", +" + x + ")";
	case op_kind::poll:
		return "poll(" + a + ")";
	case op_kind::fan:
		return "fan(" + a + ", into " + (o.b < 0 ? std::string("none") : b) + ", leaves=" + x + ", depth=" + y + ")";
	case op_kind::count_:
		break;
	}
	return "?";
}

// '#', not "#": GCC PR 105651 (see opnd()).
std::string describe(const op &o) { return '#' + std::to_string(o.id) + " " + args(o); }

std::string op_list(const program &p)
{
	std::string s;
	for (auto &o : p)
		s += "  " + describe(o) + "\n";
	return s;
}

std::string to_text(const program &p)
{
	std::string s;
	char buf[160];
	for (auto &o : p) {
		snprintf(buf, sizeof buf, "op %d %d %d %d %d 0x%x 0x%llx %u\n", static_cast<int>(o.kind), o.a, o.b, o.x, o.y,
			 o.mask, static_cast<unsigned long long>(o.data), o.id);
		s += buf;
	}
	return s;
}

program parse_program(const std::string &s)
{
	program p;
	size_t start = 0;
	while (start < s.size()) {
		size_t nl = s.find('\n', start);
		std::string l = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
		start = nl == std::string::npos ? s.size() : nl + 1;
		int k, a, b, x, y;
		unsigned mask, id;
		unsigned long long data;
		size_t at = l.find("op ");
		if (at == std::string::npos ||
		    sscanf(l.c_str() + at, "op %d %d %d %d %d %x %llx %u", &k, &a, &b, &x, &y, &mask, &data, &id) != 8 ||
		    k < 0 || k >= static_cast<int>(op_kind::count_))
			continue;
		op o;
		o.kind = static_cast<op_kind>(k);
		o.a = static_cast<int8_t>(a);
		o.b = static_cast<int8_t>(b);
		o.x = x;
		o.y = y;
		o.mask = mask;
		o.data = data;
		o.id = id;
		p.push_back(o);
	}
	return p;
}

} // namespace uepoll::fuzz
