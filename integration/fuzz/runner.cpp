// integration/fuzz/runner.cpp - children, their records, the comparison.
//
// Each child writes its record into a shared mapping of a memfd made once
// by the parent (no pipe to drain while the other child runs); a child
// that execs itself under LD_PRELOAD (side::preload) maps the same memfd
// again.  A child is bounded by alarm(), which survives the exec: a hang
// becomes a death, which is a divergence.
#include "integration/fuzz/runner.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace uepoll::fuzz {

namespace {

constexpr size_t REGION = 32u << 20;
constexpr unsigned CHILD_SECONDS = 20;

struct region {
	size_t len;
	char data[REGION - sizeof(size_t)];
};

region *map_region(int fd)
{
	void *p = mmap(nullptr, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		abort();
	return static_cast<region *>(p);
}

int region_fd[2] = {-1, -1};

// Our own fds live above the numbers the programs get, so that a program
// sees the same numbers in a forked child and in an exec'd one.
constexpr int OWN_FDS = 900;

int move_high(int fd, bool cloexec)
{
	int h = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, OWN_FDS);
	close(fd);
	return h;
}

region *shared_region(int i)
{
	static region *r[2];
	if (!r[i]) {
		region_fd[i] = move_high(memfd_create("uepoll-fuzz-record", MFD_CLOEXEC), true);
		if (region_fd[i] < 0 || ftruncate(region_fd[i], REGION) != 0)
			abort();
		r[i] = map_region(region_fd[i]);
	}
	return r[i];
}

int fd_of_region(const region *out)
{
	for (int i = 0; i < 2; i++)
		if (region_fd[i] >= 0 && shared_region(i) == out)
			return region_fd[i];
	return -1;
}

// In the child: becomes a fresh uepoll-fuzz under LD_PRELOAD that runs p
// on s's backend and writes the record into `out` (exec_side()).
[[noreturn]] void exec_preloaded(const program &p, const side &s, bool emit_code, region *out)
{
	int prog = move_high(memfd_create("uepoll-fuzz-program", 0), false);
	std::string text = to_text(p);
	int rfd = fcntl(fd_of_region(out), F_DUPFD, OWN_FDS); // without FD_CLOEXEC
	if (prog < 0 || rfd < 0 || write(prog, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
		_exit(125);
	std::string pf = std::to_string(prog), rf = std::to_string(rfd);
	const char *argv[] = {"uepoll-fuzz", "--exec-side", pf.c_str(), rf.c_str(), emit_code ? "--emit" : nullptr,
			      nullptr};
	setenv("LD_PRELOAD", s.preload, 1);
	execv("/proc/self/exe", const_cast<char *const *>(argv));
	_exit(126);
}

void serialize(const std::vector<line> &lines, region *out)
{
	size_t off = 0, cap = sizeof out->data;
	for (auto &l : lines) {
		std::string s = l.text + '\x1f' + l.note + '\n';
		if (off + s.size() + 64 > cap) {
			const char *t = "!! record truncated\x1f\n";
			memcpy(out->data + off, t, strlen(t));
			off += strlen(t);
			break;
		}
		memcpy(out->data + off, s.data(), s.size());
		off += s.size();
	}
	out->len = off;
}

std::vector<line> deserialize(const region *in)
{
	std::vector<line> v;
	std::string s(in->data, in->len);
	size_t start = 0;
	while (start < s.size()) {
		size_t nl = s.find('\n', start);
		std::string l = s.substr(start, nl - start);
		size_t us = l.find('\x1f');
		v.push_back({l.substr(0, us), us == std::string::npos ? "" : l.substr(us + 1)});
		start = nl + 1;
	}
	return v;
}

// Runs p on s in this process and writes its record into out.
void record(const program &p, const side &s, bool emit_code, region *out)
{
	world w(s, emit_code);
	for (auto &o : p)
		w.run(o);
	serialize(w.lines, out);
}

pid_t spawn(const program &p, const side &s, bool emit_code, region *out)
{
	out->len = 0;
	fflush(nullptr);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	signal(SIGPIPE, SIG_IGN);
	alarm(CHILD_SECONDS);
	if (s.preload)
		exec_preloaded(p, s, emit_code, out);
	record(p, s, emit_code, out);
	_exit(0);
}

run_output reap(pid_t pid, const region *in)
{
	run_output r;
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		r.died = "could not run";
		return r;
	}
	r.lines = deserialize(in);
	if (WIFSIGNALED(status))
		r.died = std::string("killed by ") + (sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?") +
			 (WTERMSIG(status) == SIGALRM ? " (hung)" : "");
	else if (WEXITSTATUS(status) != 0)
		r.died = "exit " + std::to_string(WEXITSTATUS(status));
	return r;
}

std::vector<const line *> compared(const run_output &r)
{
	std::vector<const line *> v;
	for (auto &l : r.lines)
		if (!l.text.empty())
			v.push_back(&l);
	return v;
}

// "#12 epoll_wait(s3, max=4, 0) = 2 {IN data=..} {OUT data=..}"
struct wait_line {
	std::string head;
	std::vector<std::string> items;
	bool ok = false;
};

wait_line parse_wait(const std::string &text)
{
	wait_line w;
	size_t sp = text.find(' '), paren = text.find('(');
	if (sp == std::string::npos || paren == std::string::npos)
		return w;
	std::string name = text.substr(sp + 1, paren - sp - 1);
	if (name != "epoll_wait" && name != "epoll_pwait" && name != "epoll_pwait2")
		return w;
	size_t eq = text.find(" = ");
	if (eq == std::string::npos)
		return w;
	w.head = text.substr(0, eq);
	size_t pos = text.find(" {", eq);
	while (pos != std::string::npos) {
		size_t end = text.find('}', pos);
		if (end == std::string::npos)
			return w;
		w.items.push_back(text.substr(pos + 1, end - pos));
		pos = text.find(" {", end);
	}
	w.ok = true;
	return w;
}

std::string item_data(const std::string &item)
{
	size_t d = item.find("data=");
	return d == std::string::npos ? "" : item.substr(d + 5, item.size() - d - 6);
}

// The section of a note that starts with key (sections are separated by
// ';'), without the key: " <hex> ..." or "" when the section is empty.
// Returns false when the note has no such section.
bool note_section(const std::string &note, const std::string &key, std::string &out)
{
	size_t pos = 0;
	while (pos <= note.size()) {
		size_t end = note.find(';', pos);
		if (end == std::string::npos)
			end = note.size();
		std::string sec = note.substr(pos, end - pos);
		if (sec.rfind(key, 0) == 0 && (sec.size() == key.size() || sec[key.size()] == ' ')) {
			out = sec.substr(key.size());
			return true;
		}
		pos = end + 1;
	}
	return false;
}

std::vector<std::string> words(const std::string &s)
{
	std::vector<std::string> v;
	size_t pos = 0;
	while ((pos = s.find_first_not_of(' ', pos)) != std::string::npos) {
		size_t end = s.find(' ', pos);
		v.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
		pos = end;
	}
	return v;
}

// Documented deviation 1: b reported what a reported plus EPOLLET items
// that had a partial read and nothing new since (the wait's etp note).
bool et_partial_rereport(const line &a, const line &b)
{
	std::string etp;
	if (!note_section(a.note, "etp", etp))
		return false;
	wait_line wa = parse_wait(a.text), wb = parse_wait(b.text);
	if (!wa.ok || !wb.ok || wa.head != wb.head || wb.items.size() <= wa.items.size())
		return false;
	std::vector<std::string> extra = wb.items;
	for (auto &i : wa.items) {
		auto it = std::find(extra.begin(), extra.end(), i);
		if (it == extra.end())
			return false;
		extra.erase(it);
	}
	for (auto &i : extra)
		if ((etp + " ").find(" " + item_data(i) + " ") == std::string::npos)
			return false;
	return true;
}

// The same deviation seen through poll(2) of the instance (its only
// readiness is POLLIN): a has nothing, b has the instance readable, and the
// instance has listed items.  Which item made it readable cannot be seen,
// so any listed one may have; an instance without listed items never
// qualifies.
bool et_partial_poll(const line &a, const line &b)
{
	std::string etp;
	if (!note_section(a.note, "etp", etp) || etp.empty())
		return false;
	size_t eq = a.text.find(" = ");
	if (eq == std::string::npos || a.text.find(" poll(") == std::string::npos)
		return false;
	std::string head = a.text.substr(0, eq);
	return a.text == head + " = 0" && b.text == head + " = 1 revents=1";
}

// Documented deviation 2 (icmp_error_late), for a wait whose records are
// equal (the text lists the events sorted, so: the same multiset of items,
// bits and data).  The kernel queued the items of a UDP file at the ICMP
// error's arrival, uepoll at its next poll: the order the calls returned
// may differ, but only in where the listed items are.
enum class order_diff { same, icmp_error_late, other };

order_diff icmp_error_late(const line &a, const line &b)
{
	std::string la, lb, oa, ob;
	if (!note_section(a.note, "order", oa) || !note_section(b.note, "order", ob) || oa == ob)
		return order_diff::same;
	if (!note_section(a.note, "icmp_error_late", la) || !note_section(b.note, "icmp_error_late", lb) || la != lb ||
	    la.empty() || !parse_wait(a.text).ok)
		return order_diff::other;
	std::vector<std::string> listed = words(la), va = words(oa), vb = words(ob);
	std::vector<std::string> sa = va, sb = vb;
	std::sort(sa.begin(), sa.end());
	std::sort(sb.begin(), sb.end());
	if (sa != sb)
		return order_diff::other;
	auto unlisted = [&](std::vector<std::string> v) {
		std::erase_if(v, [&](const std::string &d) {
			return std::find(listed.begin(), listed.end(), d) != listed.end();
		});
		return v;
	};
	return unlisted(va) == unlisted(vb) ? order_diff::icmp_error_late : order_diff::other;
}

long op_of(const std::string &text)
{
	if (text.empty() || text[0] != '#')
		return -1;
	return strtol(text.c_str() + 1, nullptr, 10);
}

} // namespace

int exec_side(int program_fd, int region_fd, bool emit_code)
{
	std::string text;
	char buf[4096];
	ssize_t n;
	lseek(program_fd, 0, SEEK_SET);
	while ((n = read(program_fd, buf, sizeof buf)) > 0)
		text.append(buf, static_cast<size_t>(n));
	close(program_fd);
	region *out = map_region(region_fd);
	close(region_fd);
	record(parse_program(text), native_side(), emit_code, out);
	return 0;
}

run_output run_one(const program &p, const side &s, bool emit_code)
{
	region *r = shared_region(0);
	return reap(spawn(p, s, emit_code, r), r);
}

void run_pair(const program &p, const side &a, const side &b, run_output &ra, run_output &rb)
{
	region *r0 = shared_region(0), *r1 = shared_region(1);
	pid_t pa = spawn(p, a, false, r0);
	pid_t pb = spawn(p, b, false, r1);
	ra = reap(pa, r0);
	rb = reap(pb, r1);
}

verdict compare(const run_output &a, const run_output &b)
{
	verdict v;
	auto la = compared(a), lb = compared(b);
	size_t n = std::min(la.size(), lb.size());
	for (size_t i = 0; i < n; i++) {
		if (la[i]->text == lb[i]->text) {
			order_diff d = icmp_error_late(*la[i], *lb[i]);
			if (d == order_diff::same)
				continue;
			if (d == order_diff::icmp_error_late) {
				v.documented_icmp++;
				continue;
			}
			// The same events in an order that the listed items do not
			// explain: only waits with listed items record their order.
			std::string oa, ob;
			note_section(la[i]->note, "order", oa);
			note_section(lb[i]->note, "order", ob);
			v.diverged = true;
			v.first_a = la[i]->text + " [order" + oa + "]";
			v.first_b = lb[i]->text + " [order" + ob + "]";
			v.op_id = op_of(la[i]->text);
			return v;
		}
		if (et_partial_rereport(*la[i], *lb[i]) || et_partial_poll(*la[i], *lb[i])) {
			v.documented_et++;
			continue;
		}
		v.diverged = true;
		v.first_a = la[i]->text;
		v.first_b = lb[i]->text;
		v.op_id = op_of(la[i]->text);
		return v;
	}
	if (la.size() != lb.size() || !a.died.empty() || !b.died.empty()) {
		v.diverged = true;
		v.first_a = n < la.size() ? la[n]->text : "<end>" + (a.died.empty() ? "" : " (" + a.died + ")");
		v.first_b = n < lb.size() ? lb[n]->text : "<end>" + (b.died.empty() ? "" : " (" + b.died + ")");
		v.op_id = op_of(n < la.size() ? la[n]->text : n < lb.size() ? lb[n]->text : "");
	}
	return v;
}

static std::string blank_numbers(const std::string &s)
{
	std::string r;
	bool in = false;
	for (char c : s) {
		bool num = isxdigit(static_cast<unsigned char>(c)) && !(c >= 'A' && c <= 'F');
		if (num && !in)
			r += 'N';
		else if (!num)
			r += c;
		in = num;
	}
	return r;
}

std::string signature(const verdict &v)
{
	auto result = [](const std::string &t) {
		size_t eq = t.find(" = ");
		return blank_numbers(eq == std::string::npos ? t : t.substr(eq));
	};
	std::string op = v.first_a.substr(0, v.first_a.find('('));
	op = op.substr(op.find(' ') + 1);
	return op + ":" + result(v.first_a) + " | " + result(v.first_b);
}

std::string diff_context(const run_output &a, const run_output &b, const char *name_a, const char *name_b)
{
	auto la = compared(a), lb = compared(b);
	std::string s;
	size_t n = std::max(la.size(), lb.size());
	for (size_t i = 0; i < n; i++) {
		std::string ta = i < la.size() ? la[i]->text : "<end>";
		std::string tb = i < lb.size() ? lb[i]->text : "<end>";
		if (ta == tb) {
			s += "    " + ta + "\n";
		} else {
			s += "  - " + std::string(name_a) + ": " + ta + "\n";
			s += "  + " + std::string(name_b) + ": " + tb + "\n";
		}
	}
	if (!a.died.empty())
		s += "  !! " + std::string(name_a) + " run: " + a.died + "\n";
	if (!b.died.empty())
		s += "  !! " + std::string(name_b) + " run: " + b.died + "\n";
	return s;
}

} // namespace uepoll::fuzz
