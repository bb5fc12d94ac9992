// integration/fuzz/program.hpp - a fuzz program: a list of ops over a
// fixed set of numbered slots.
//
// A slot holds an fd number (or nothing).  Ops name their operands by slot
// index, never by fd number, so that any subset of a program is still a
// program: an op whose slot is empty is skipped, the same way on both
// backends.  A closed slot keeps its number, so later ops reach whatever
// file reuses it (or fail with EBADF), as a program with a stale fd would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace uepoll::fuzz {

constexpr int NSLOTS = 16;

// Operands below zero are not slots but fixed fd numbers.
constexpr int OPND_MINUS1 = -1; // fd -1
constexpr int OPND_UNUSED = -2; // a small number never opened (EBADF)
constexpr int OPND_SAME = -3;   // ctl target: the epfd itself
constexpr int OPND_HUGE = -4;   // INT_MAX
constexpr int UNUSED_FD = 500;

enum class op_kind : uint8_t {
	epoll_create, // a: slot; x: variant (0 create1(0), 1 create1(CLOEXEC), 2 bad flags, 3 epoll_create(y))
	pipe,         // a: read end, b: write end; x: 1 = O_CLOEXEC
	socketpair,   // a, b; x: SOCK_STREAM / SOCK_DGRAM / SOCK_SEQPACKET
	tcp_pair,     // a: connecting end, b: accepted end (loopback)
	listener,     // a: listening socket, b: a client whose connection waits in its queue
	connect,      // a: listener, b: new client (queued on a)
	accept,       // a: listener, b: the accepted socket
	udp_pair,     // a, b: two loopback UDP sockets connected to each other
	eventfd,      // a; x: initial value; y: 1 = EFD_SEMAPHORE
	timerfd,      // a; x: 1 = already expired, 0 = armed far in the future
	regular,      // a; x: 0 O_TMPFILE file, 1 /dev/null, 2 a directory
	ctl,          // a: epfd, b: target; x: op; y: 1 = NULL event; mask, data
	wait,         // a: epfd; x: maxevents; y: 0 epoll_wait, 1 epoll_pwait, 2 epoll_pwait2 (timeout 0)
	write,        // a; x: length; data: the eventfd value
	read,         // a; x: length
	send_oob,     // a: one urgent byte
	shutdown,     // a; x: SHUT_RD / SHUT_WR / SHUT_RDWR
	close,        // a
	dup,          // a: source, b: slot for the new number
	dup2,         // a: source, b: the slot whose number is replaced
	dup3,         // a, b as dup2; x: 1 = O_CLOEXEC
	dupfd,        // a: source, b: slot for the new number; x: minimum fd; y: 1 = CLOEXEC
	close_range,  // a: first; x: how many numbers after it
	poll,         // a: poll(2) through the backend, timeout 0
	fan,          // a: file, b: instance or -1; x: leaves, y: chain depth (nesting and path limits)
	count_,
};

struct op {
	op_kind kind = op_kind::close;
	int8_t a = 0, b = 0;
	int32_t x = 0, y = 0;
	uint32_t mask = 0;
	uint64_t data = 0;
	uint32_t id = 0; // index in the generated program: stable through minimization
};
using program = std::vector<op>;

// A random program of n ops.
program generate(uint64_t seed, int n);
// Ops for the mutator thread of the multi-threaded mode: ctl, close, dup2,
// I/O and simple creators, ids starting at first_id.
program generate_mutator(uint64_t seed, int n, uint32_t first_id);

// The 64-bit data of ctl op `id` (sub > 0 for the items a fan op makes):
// the id in the low 20 bits, a hash of it on top, so that a corrupted or
// invented value is recognised.  Inline: the emitted DIFF_TESTs (through
// steps.hpp) give their fan items the same data, without the fuzzer's
// sources.
inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}
inline uint64_t make_data(uint32_t id, uint32_t sub)
{
	uint64_t h = mix64((uint64_t(id) << 12) | sub) & 0xffffffff00000000ULL;
	return h | (uint64_t(sub & 0xfff) << 20) | (id & 0xfffff);
}
bool data_valid(uint64_t d);
uint32_t data_id(uint64_t d);

// One line per op, e.g. "#12 ctl(s3, ADD, s5, IN|ET)".
std::string describe(const op &o);
std::string op_list(const program &p);
// The program as text that parse_program reads back ("uepoll-fuzz
// --replay FILE"): one op per line, "op <kind> <a> <b> <x> <y> <mask> <data> <id>".
std::string to_text(const program &p);
// Reads the "op ..." lines of s (anything else is ignored).
program parse_program(const std::string &s);
// "IN|OUT|ET|0x20".
std::string mask_str(uint32_t m);

} // namespace uepoll::fuzz
