// integration/fuzz/world.hpp - runs a program's ops on one backend and
// records what each returned.
//
// Besides the slots, the world keeps a model of what the process holds: an
// open-file id ("ofd") per open fd number (dups share it), and the items
// each instance has, keyed like the kernel keys them, (instance file,
// target file, fd number).  The model is updated only from the results of
// the calls, so it is the same on both backends until the first
// divergence.  It serves three purposes: settling loopback sockets after
// I/O, recognising the documented ET partial-read re-report, and the
// property checks of the multi-threaded mode.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "integration/fuzz/program.hpp"
#include "tests/backend.hpp"

namespace uepoll::fuzz {

// One side of a run: the backend the program's calls go through (its
// connect() is uepoll's hook on the uepoll side, which pairs up loopback
// TCP ends of one process).
struct side {
	test::backend *b;
	const char *name;
	// Not null: the program runs in a fresh process of this executable,
	// with this library in LD_PRELOAD, on `b` (libc): uepoll as a preloaded
	// program meets it, every call through the dynamic linker.
	const char *preload = nullptr;
};
side native_side();
side uepoll_side();

// One recorded step.  `text` is compared between the two runs; `note` is
// not.  A line with empty text carries only a note: "skip" (the op was
// skipped), "code:<C++>" (the GoogleTest statement of the step, when asked).
// A wait's note, and that of a poll(2) of an instance, lists the data of
// the EPOLLET items that may be reported again after a partial read
// (documented deviation 1): "etp <hex> ...".  A wait on an instance with
// items marked icmp_late (documented deviation 2) has the sections
// "icmp_error_late <hex> ..." (those items) and "order <hex> ..." (the data
// of the events in the order the call returned them; the text has them
// sorted).  Sections are separated by ';'.
struct line {
	std::string text, note;
};

enum class fkind : uint8_t { epoll, pipe_r, pipe_w, unix_sock, tcp, listener, udp, eventfd, timerfd, regular };

struct ofile {
	fkind kind = fkind::regular;
	uint32_t peer = 0;             // the other end (pipes, socket pairs, TCP connections)
	std::deque<uint32_t> pending;  // listener: the clients in its accept queue, in order
	long sent = 0;                 // TCP: bytes written (capped, see write_cap)
	// Read from and still readable (documented deviation 1), until a wait
	// drains it.  News on the file (data, a shutdown, its peer's close)
	// does not clear it: uepoll's extra report queued the item at the
	// partial read, earlier in the ready list than the kernel queues it at
	// the news; the next wait takes the whole list on both runs.
	bool et_partial = false;
	bool released = false;         // its last fd was closed
	bool dgram = false;            // an AF_UNIX SOCK_DGRAM end (a UDP socket is fkind::udp)
	bool seqpacket = false;        // an AF_UNIX SOCK_SEQPACKET end: messages, no byte count (deviation 1)
};

struct item {
	uint32_t ep, file; // ofds
	int fd;
	uint32_t events;
	uint64_t data;
	// Documented deviation 2 (icmp_error_late): an ICMP error reached the
	// file (a UDP send to a closed port, seen by settle) since the last
	// wait on this instance that could place the item.  The kernel queued
	// the item when the error arrived; uepoll finds it at its next poll, so
	// its place in the ready list may differ.
	bool icmp_late = false;
	// Documented deviation 1 through nesting: a wait on another instance
	// drained a file with a partial read that this item watches, or that
	// the instance this item watches holds an item on (at any depth).
	// uepoll's extra report is still queued here (the other wait only
	// polled this instance, or the extra report's wake-up reached this
	// item), and the next wait on its own instance may give it.
	bool extra_ok = false;
	// Documented deviation 1, its place in the ready list: a level-
	// triggered item listed at a wait on its instance (it may have had
	// uepoll's extra report there).  uepoll queued it again at that wait,
	// the kernel queues it only when news comes, later: while it stays
	// queued its place may differ.  Only waits that record their order
	// (icmp_error_late) look at places.
	bool order_free = false;
};

struct world {
	world(const side &s, bool emit_code);

	// Runs one op (or skips it when a slot operand is empty).
	void run(const op &o);

	side s;
	bool emit;
	int slot[NSLOTS];
	std::map<int, uint32_t> fds;   // open fd number -> ofd
	std::vector<ofile> files{1};   // index: ofd; 0 is "none"
	std::vector<item> items;
	std::vector<line> lines;
	std::vector<int> expect_icmp;            // UDP fds that sent to a closed port (settle)
	std::function<void(uint64_t)> on_retire; // an item's data stops being valid
	// An epoll instance's last number was closed, before its items (and the
	// items watching it) are retired: a wait blocked on the instance holds
	// its file, and the kernel releases it only when that wait returns.
	std::function<void()> on_epoll_release;
	long ops_run = 0;

	// Model queries.
	uint32_t file_at(int fd) const;
	int fd_of_file(uint32_t f) const;
	bool has_fd(uint32_t f) const { return fd_of_file(f) >= 0; }
	bool is_inet(uint32_t f) const;
	bool in_process_stream(uint32_t f) const;

private:
	std::string label;

	// Recording.
	long step(const std::string &suffix, long ret, const std::string &extra = "");
	void code(const std::string &c);
	void note(const std::string &n) { lines.push_back({"", n}); }
	void record_events(const std::string &suffix, int n, const struct epoll_event *evs);

	// Operands.
	bool operand(int v, int &fd) const;
	std::string expr(int v) const;     // C++ for an operand
	std::string fd_expr(int fd) const; // C++ for an fd number

	// Model updates.
	uint32_t new_file(fkind k);
	void opened(int fd, uint32_t f, int slot_index);
	void closed_number(int fd);
	void replaced(int fd, uint32_t f);
	void release(uint32_t f);
	void retire(uint64_t data)
	{
		if (on_retire)
			on_retire(data);
	}
	void model_ctl(int epfd, int op, int fd, const struct epoll_event *ev);
	void settle();
	void drain_et_partial(const std::vector<uint32_t> &files_to_drain);
	std::string et_partial_items(uint32_t epf, std::vector<uint32_t> *files_out,
				     std::vector<item> *oneshot_out = nullptr, int depth = 0) const;
	void resync_oneshot(const std::vector<item> &nested);
	void mark_icmp_errors();

	// Op handlers.
	void do_epoll_create(const op &o);
	void do_pipe(const op &o);
	void do_socketpair(const op &o);
	void do_tcp_pair(const op &o);
	void do_listener(const op &o);
	void do_connect(const op &o);
	void do_accept(const op &o);
	void do_udp_pair(const op &o);
	void do_eventfd(const op &o);
	void do_timerfd(const op &o);
	void do_regular(const op &o);
	void do_ctl(const op &o);
	void do_wait(const op &o);
	void do_write(const op &o);
	void do_read(const op &o);
	void do_send_oob(const op &o);
	void do_shutdown(const op &o);
	void do_close(const op &o);
	void do_dup(const op &o);
	void do_dup2(const op &o);
	void do_dupfd(const op &o);
	void do_close_range(const op &o);
	void do_poll(const op &o);
	void do_fan(const op &o);
};

} // namespace uepoll::fuzz
