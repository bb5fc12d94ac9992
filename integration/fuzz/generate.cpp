// integration/fuzz/generate.cpp - random programs from a seed.
//
// The generator keeps a rough belief of what each slot holds (it does not
// know whether a creation will fail) and uses it only to bias its choices
// towards meaningful ops: ctl on an instance, reads on readable ends.  A
// small share of ops deliberately picks the wrong kind of slot or a bad
// number, which reaches the error paths.
#include "integration/fuzz/program.hpp"

#include <array>
#include <climits>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace uepoll::fuzz {

uint32_t data_id(uint64_t d) { return static_cast<uint32_t>(d & 0xfffff); }

bool data_valid(uint64_t d) { return make_data(data_id(d), static_cast<uint32_t>((d >> 20) & 0xfff)) == d; }

namespace {

struct rng {
	uint64_t s;
	uint64_t next() { return s = mix64(s); }
	int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
	bool chance(int percent) { return below(100) < percent; }
	template <typename T, size_t N> T pick(const std::array<T, N> &a) { return a[below(N)]; }
};

enum class belief : uint8_t { none, epoll, readable, writable, duplex, listener, other };

struct slot_belief {
	belief kind = belief::none;
	bool open = false;
	bool inet = false;
};

struct gen {
	rng r;
	std::array<slot_belief, NSLOTS> slots{};
	uint32_t next_id = 0;

	int count(belief k) const
	{
		int n = 0;
		for (auto &s : slots)
			n += s.open && s.kind == k;
		return n;
	}

	// A slot whose belief satisfies pred (most of the time), else any slot.
	template <typename P> int slot_where(P pred)
	{
		int cand[NSLOTS], n = 0;
		for (int i = 0; i < NSLOTS; i++)
			if (pred(slots[i]))
				cand[n++] = i;
		if (n == 0 || r.chance(4))
			return r.below(NSLOTS);
		return cand[r.below(n)];
	}
	int slot_of(belief k)
	{
		return slot_where([k](const slot_belief &s) { return s.open && s.kind == k; });
	}
	int any_open() { return slot_where([](const slot_belief &s) { return s.open; }); }
	int file_slot()
	{
		return slot_where([](const slot_belief &s) { return s.open && s.kind != belief::epoll; });
	}
	// A slot for a new fd: a free one (empty or closed) mostly.
	int fresh_slot()
	{
		return slot_where([](const slot_belief &s) { return !s.open; });
	}
	void set(int i, belief k, bool inet = false)
	{
		if (i >= 0)
			slots[i] = {k, true, inet};
	}
	// A ctl/wait epfd operand: an instance mostly, sometimes anything.
	int epfd_operand()
	{
		if (r.chance(3))
			return r.pick(std::array<int, 3>{OPND_MINUS1, OPND_UNUSED, OPND_HUGE});
		if (r.chance(4))
			return file_slot();
		return slot_of(belief::epoll);
	}
	int target_operand()
	{
		if (r.chance(4))
			return r.pick(std::array<int, 4>{OPND_MINUS1, OPND_UNUSED, OPND_SAME, OPND_HUGE});
		if (r.chance(22))
			return slot_of(belief::epoll);
		return file_slot();
	}

	uint32_t mask();
	op make(op_kind k) { return op{.kind = k, .id = next_id++}; }
	op_kind creator_kind();
	op creator(op_kind k);
	op ctl();
	op io();
	op fd_life();
	op one();
	op mutator_one();
};

uint32_t gen::mask()
{
	if (r.chance(4))
		return static_cast<uint32_t>(r.next());
	static constexpr std::array<uint32_t, 16> bases = {
		EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT, EPOLLIN | EPOLLRDHUP, EPOLLIN | EPOLLOUT | EPOLLRDHUP,
		EPOLLPRI, EPOLLIN | EPOLLPRI, EPOLLRDNORM, EPOLLWRNORM, EPOLLRDNORM | EPOLLWRNORM, 0,
		EPOLLERR | EPOLLHUP, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI, EPOLLIN, EPOLLIN, EPOLLOUT | EPOLLWRBAND,
	};
	uint32_t m = r.pick(bases);
	if (r.chance(30))
		m |= EPOLLET;
	if (r.chance(18))
		m |= EPOLLONESHOT;
	if (r.chance(8))
		m |= EPOLLEXCLUSIVE;
	if (r.chance(3))
		m |= EPOLLWAKEUP;
	if (r.chance(3))
		m |= r.pick(std::array<uint32_t, 4>{0x20, 1u << 20, 1u << 27, EPOLLMSG});
	return m;
}

op_kind gen::creator_kind()
{
	if (count(belief::epoll) == 0)
		return op_kind::epoll_create;
	static constexpr std::array<op_kind, 25> weighted = {
		op_kind::epoll_create, op_kind::epoll_create, op_kind::epoll_create, op_kind::epoll_create,
		op_kind::epoll_create, op_kind::epoll_create, op_kind::pipe, op_kind::pipe, op_kind::pipe,
		op_kind::pipe, op_kind::pipe, op_kind::socketpair, op_kind::socketpair, op_kind::socketpair,
		op_kind::socketpair, op_kind::tcp_pair, op_kind::tcp_pair, op_kind::listener, op_kind::connect,
		op_kind::accept, op_kind::udp_pair, op_kind::eventfd, op_kind::eventfd, op_kind::eventfd,
		op_kind::timerfd,
	};
	return r.chance(4) ? op_kind::regular : r.pick(weighted);
}

op gen::creator(op_kind k)
{
	op o = make(k);
	o.a = static_cast<int8_t>(k == op_kind::connect || k == op_kind::accept ? slot_of(belief::listener)
										 : fresh_slot());
	if (k != op_kind::epoll_create && k != op_kind::eventfd && k != op_kind::timerfd && k != op_kind::regular)
		o.b = static_cast<int8_t>(fresh_slot());
	switch (k) {
	case op_kind::epoll_create:
		o.x = r.chance(90) ? r.below(2) : 2 + r.below(2);
		o.y = r.pick(std::array<int, 3>{1, 0, -1});
		set(o.a, belief::epoll);
		break;
	case op_kind::pipe:
		o.x = r.below(2);
		set(o.a, belief::readable);
		set(o.b, belief::writable);
		break;
	case op_kind::socketpair:
		o.x = r.pick(std::array<int, 3>{SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET});
		set(o.a, belief::duplex);
		set(o.b, belief::duplex);
		break;
	case op_kind::tcp_pair:
	case op_kind::udp_pair:
		set(o.a, belief::duplex, true);
		set(o.b, belief::duplex, true);
		break;
	case op_kind::listener:
		set(o.a, belief::listener, true);
		set(o.b, belief::duplex, true);
		break;
	case op_kind::connect:
	case op_kind::accept:
		set(o.b, belief::duplex, true);
		break;
	case op_kind::eventfd:
		o.x = r.pick(std::array<int, 4>{0, 0, 1, 3});
		o.y = r.chance(20);
		set(o.a, belief::duplex);
		break;
	case op_kind::timerfd:
		o.x = r.chance(75);
		set(o.a, belief::readable);
		break;
	default:
		o.x = r.below(3);
		set(o.a, belief::other);
		break;
	}
	return o;
}

op gen::ctl()
{
	op o = make(op_kind::ctl);
	o.a = static_cast<int8_t>(epfd_operand());
	o.b = static_cast<int8_t>(target_operand());
	int w = r.below(100);
	o.x = w < 50 ? EPOLL_CTL_ADD : w < 75 ? EPOLL_CTL_MOD : w < 95 ? EPOLL_CTL_DEL
					      : r.pick(std::array<int, 3>{0, 4, -1});
	o.y = r.chance(o.x == EPOLL_CTL_DEL ? 30 : 2);
	o.mask = mask();
	o.data = make_data(o.id, 0);
	return o;
}

op gen::io()
{
	op o;
	int w = r.below(100);
	if (w < 50) {
		o = make(op_kind::write);
		o.a = static_cast<int8_t>(slot_where([](const slot_belief &s) {
			return s.open && (s.kind == belief::writable || s.kind == belief::duplex);
		}));
		o.x = r.pick(std::array<int, 8>{1, 3, 8, 8, 100, 1000, 4096, 70000});
		o.data = r.pick(std::array<uint64_t, 6>{1, 1, 2, 7, 0, 0xfffffffffffffffeULL});
	} else if (w < 92) {
		o = make(op_kind::read);
		o.a = static_cast<int8_t>(slot_where([](const slot_belief &s) {
			return s.open && (s.kind == belief::readable || s.kind == belief::duplex);
		}));
		o.x = r.pick(std::array<int, 6>{1, 5, 8, 64, 4096, 1 << 17});
	} else if (w < 95) {
		o = make(op_kind::send_oob);
		o.a = static_cast<int8_t>(slot_where([](const slot_belief &s) { return s.open && s.inet; }));
	} else {
		o = make(op_kind::shutdown);
		o.a = static_cast<int8_t>(slot_where([](const slot_belief &s) { return s.open && s.kind == belief::duplex; }));
		o.x = r.below(3);
	}
	return o;
}

op gen::fd_life()
{
	op o;
	int w = r.below(100);
	if (w < 45) {
		o = make(op_kind::close);
		o.a = static_cast<int8_t>(any_open());
		slots[o.a].open = false;
		return o;
	}
	static constexpr std::array<op_kind, 8> kinds = {op_kind::dup, op_kind::dup2, op_kind::dup2, op_kind::dup3,
							 op_kind::dupfd, op_kind::close_range, op_kind::poll, op_kind::fan};
	o = make(r.pick(kinds));
	o.a = static_cast<int8_t>(any_open());
	switch (o.kind) {
	case op_kind::dup:
	case op_kind::dupfd:
		o.b = static_cast<int8_t>(fresh_slot());
		o.x = r.pick(std::array<int, 3>{0, 10, 40});
		o.y = r.below(2);
		slots[o.b] = slots[o.a];
		break;
	case op_kind::dup2:
	case op_kind::dup3:
		o.b = static_cast<int8_t>(r.chance(10) ? o.a : any_open());
		o.x = r.below(2);
		slots[o.b] = slots[o.a];
		break;
	case op_kind::close_range:
		o.x = r.below(3);
		slots[o.a].open = false;
		break;
	case op_kind::poll:
		o.a = static_cast<int8_t>(r.chance(80) ? slot_of(belief::epoll) : any_open());
		break;
	case op_kind::fan:
		o.a = static_cast<int8_t>(file_slot());
		o.b = static_cast<int8_t>(r.chance(50) ? slot_of(belief::epoll) : -1);
		o.x = r.pick(std::array<int, 5>{1, 2, 10, 11, 12});
		o.y = r.below(5);
		o.data = make_data(o.id, 0);
		break;
	default:
		break;
	}
	return o;
}

op gen::one()
{
	int w = r.below(100);
	if (w < 20)
		return creator(creator_kind());
	if (w < 48)
		return ctl();
	if (w < 64) {
		op o = make(op_kind::wait);
		o.a = static_cast<int8_t>(epfd_operand());
		o.x = r.chance(94) ? 1 + r.below(8) : r.pick(std::array<int, 4>{0, -1, 64, INT_MAX});
		o.y = r.chance(80) ? 0 : 1 + r.below(2);
		return o;
	}
	if (w < 88)
		return io();
	return fd_life();
}

// The mutator thread runs ctl, close, dup2, I/O and cheap creators; waits
// are for the waiter threads.
op gen::mutator_one()
{
	int w = r.below(100);
	if (w < 12)
		return creator(r.pick(std::array<op_kind, 5>{op_kind::epoll_create, op_kind::pipe, op_kind::socketpair,
							     op_kind::eventfd, op_kind::eventfd}));
	if (w < 55)
		return ctl();
	if (w < 80)
		return io();
	op o = make(r.chance(75) ? op_kind::close : op_kind::dup2);
	o.a = static_cast<int8_t>(any_open());
	o.b = static_cast<int8_t>(any_open());
	if (o.kind == op_kind::close)
		slots[o.a].open = false;
	return o;
}

} // namespace

program generate(uint64_t seed, int n)
{
	gen g{rng{mix64(seed)}};
	program p;
	p.reserve(n);
	while (static_cast<int>(p.size()) < n)
		p.push_back(g.one());
	return p;
}

program generate_mutator(uint64_t seed, int n, uint32_t first_id)
{
	gen g{rng{mix64(seed ^ 0x6d75746174ULL)}};
	g.next_id = first_id;
	for (int i = 0; i < NSLOTS; i++)
		g.slots[i] = {i % 3 == 0 ? belief::epoll : belief::duplex, true, false};
	program p;
	while (static_cast<int>(p.size()) < n)
		p.push_back(g.mutator_one());
	return p;
}

} // namespace uepoll::fuzz
