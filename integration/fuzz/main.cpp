// integration/fuzz/main.cpp - uepoll-fuzz: differential fuzzing of uepoll
// against native epoll (docs/fuzzer.md).
//
//   uepoll-fuzz --ops N --seed S|random [--threads T] [--minutes M]
//               [--program-ops K] [--program P] [--max-divergences D]
//               [--native] [--show] [--replay FILE] [--inject BUG]
//               [--no-minimize] [--self-test] [--preload LIB] [--emit]
//
// The last line is always "uepoll-fuzz: ops=N ops_per_s=X divergences=D";
// the exit status is 0 when no undocumented divergence was found.
#include <cctype>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <unistd.h>

#include "integration/fuzz/emit.hpp"
#include "integration/fuzz/report.hpp"
#include "integration/fuzz/runner.hpp"
#include "integration/fuzz/selftest.hpp"
#include "integration/fuzz/threads.hpp"

namespace {

using namespace uepoll::fuzz;
using clk = std::chrono::steady_clock;

struct options {
	long ops = -1;
	uint64_t seed = 1;
	int threads = 1;
	double minutes = 0;
	int program_ops = 200;
	long only_program = -1;
	long max_divergences = 1;
	bool native = false;
	bool self_test = false;
	bool show = false;
	std::string replay;
	std::string inject;
	std::string preload;
	bool minimize = true;
	bool emit = false;
	bool random_seed = false;
};

[[noreturn]] void usage()
{
	fprintf(stderr, "usage: uepoll-fuzz --ops N --seed S|random [--threads T] [--minutes M] [--program-ops K]\n"
			"                   [--program P] [--max-divergences D] [--native] [--show] [--replay FILE]\n"
			"                   [--inject BUG] [--no-minimize] [--self-test] [--preload LIB] [--emit]\n");
	exit(2);
}

options parse(int argc, char **argv)
{
	options o;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		auto val = [&]() -> const char * {
			if (i + 1 >= argc)
				usage();
			return argv[++i];
		};
		if (a == "--ops")
			o.ops = atol(val());
		else if (a == "--seed") {
			std::string v = val();
			o.random_seed = v == "random";
			o.seed = o.random_seed ? 0 : strtoull(v.c_str(), nullptr, 0);
		}
		else if (a == "--threads")
			o.threads = atoi(val());
		else if (a == "--minutes")
			o.minutes = atof(val());
		else if (a == "--program-ops")
			o.program_ops = atoi(val());
		else if (a == "--program")
			o.only_program = atol(val());
		else if (a == "--max-divergences")
			o.max_divergences = atol(val());
		else if (a == "--native")
			o.native = true;
		else if (a == "--self-test")
			o.self_test = true;
		else if (a == "--show")
			o.show = true;
		else if (a == "--replay")
			o.replay = val();
		else if (a == "--inject")
			o.inject = val();
		else if (a == "--no-minimize")
			o.minimize = false;
		else if (a == "--preload")
			o.preload = val();
		else if (a == "--emit")
			o.emit = true;
		else
			usage();
	}
	if (o.ops < 0)
		o.ops = o.minutes > 0 ? LONG_MAX : 10000;
	if (o.program_ops < 1 || o.threads < 1)
		usage();
	// The dynamic linker only warns about an LD_PRELOAD it cannot open and
	// runs the program without it: the "uepoll" side would be native epoll,
	// and every run would pass.
	if (!o.preload.empty() && access(o.preload.c_str(), R_OK) != 0) {
		perror(("uepoll-fuzz: --preload " + o.preload).c_str());
		exit(2);
	}
	// --seed random: a new seed each run (the test command's
	// fuzz_random_seed), or the one in UEPOLL_FUZZ_SEED, to repeat a run.
	// Printed first, so that a failure can be reproduced with --seed.
	if (o.random_seed) {
		if (const char *e = getenv("UEPOLL_FUZZ_SEED"); e && *e) {
			o.seed = strtoull(e, nullptr, 0);
		} else {
			FILE *f = fopen("/dev/urandom", "re");
			if (!f || fread(&o.seed, sizeof o.seed, 1, f) != 1) {
				perror("uepoll-fuzz: /dev/urandom");
				exit(2);
			}
			fclose(f);
			o.seed >>= 32; // short enough to type
		}
		printf("uepoll-fuzz: seed %llu (--seed random; repeat with --seed %llu or UEPOLL_FUZZ_SEED=%llu)\n",
		       static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.seed),
		       static_cast<unsigned long long>(o.seed));
		fflush(stdout);
	}
	return o;
}

// The side under test: uepoll (in-process, or preloaded into a fresh
// process with --preload), or native epoll (--native), or native epoll
// with a deliberately injected bug (--inject).
side tested_side(const options &o)
{
	if (!o.preload.empty())
		return {&uepoll::test::native_backend(), "uepoll-preloaded", o.preload.c_str()};
	if (!o.inject.empty()) {
		uepoll::test::backend *b = injected_bug(o.inject);
		if (!b) {
			fprintf(stderr, "uepoll-fuzz: no such bug: %s\n", o.inject.c_str());
			exit(2);
		}
		return {b, b->name()};
	}
	return o.native ? native_side() : uepoll_side();
}

uint64_t program_seed(uint64_t seed, long index) { return mix64(seed ^ mix64(static_cast<uint64_t>(index) + 1)); }

std::string program_name(const options &o, long index)
{
	return "seed " + std::to_string(o.seed) + " program " + std::to_string(index);
}

struct clock_limit {
	clk::time_point start = clk::now();
	double minutes;
	clk::time_point last_progress = start;
	bool expired() const
	{
		return minutes > 0 && std::chrono::duration<double>(clk::now() - start).count() >= minutes * 60;
	}
	double seconds() const { return std::chrono::duration<double>(clk::now() - start).count(); }
	void progress(const totals &t, long programs)
	{
		if (clk::now() - last_progress < std::chrono::seconds(60))
			return;
		last_progress = clk::now();
		printf("uepoll-fuzz: progress programs=%ld ops=%ld divergences=%ld\n", programs, t.ops, t.divergences);
		fflush(stdout);
	}
};

// Runs a saved program on both sides, shows both records.
void replay(const options &o, totals &tot)
{
	FILE *f = fopen(o.replay.c_str(), "r");
	if (!f) {
		perror(o.replay.c_str());
		exit(2);
	}
	std::string text;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		text.append(buf, n);
	fclose(f);
	program p = parse_program(text);
	side nat = native_side(), other = tested_side(o);
	run_output a, b;
	run_pair(p, nat, other, a, b);
	tot.ops += static_cast<long>(p.size());
	verdict v = compare(a, b);
	tot.documented_et += v.documented_et;
	tot.documented_icmp += v.documented_icmp;
	tot.divergences += v.diverged;
	printf("%s", op_list(p).c_str());
	printf("--- records (- %s, + %s) ---\n%s", nat.name, other.name, diff_context(a, b, nat.name, other.name).c_str());
	// --emit: the program as a DIFF_TEST too, whether it diverges or not
	// (a replay that passes gives a test that must pass).
	if (o.emit) {
		std::string name = o.replay.substr(o.replay.find_last_of('/') + 1);
		name = name.substr(0, name.find('.'));
		for (char &c : name)
			if (!isalnum(static_cast<unsigned char>(c)))
				c = '_';
		run_output code = run_one(p, nat, true);
		printf("--- GoogleTest case ---\n%s---\n",
		       gtest_case("replay_" + name, "uepoll-fuzz --replay " + o.replay, code.lines).c_str());
	}
}

// Both sides differ only in the backend under test.
void differential(const options &o, totals &tot, clock_limit &lim)
{
	side nat = native_side(), other = tested_side(o);
	std::set<std::string> seen;
	long first = o.only_program >= 0 ? o.only_program : 0;
	for (long i = first; tot.ops < o.ops && !lim.expired(); i++) {
		if (o.only_program >= 0 && i != o.only_program)
			break;
		long n = std::min<long>(o.program_ops, o.ops - tot.ops);
		program p = generate(program_seed(o.seed, i), static_cast<int>(n));
		run_output a, b;
		run_pair(p, nat, other, a, b);
		tot.ops += static_cast<long>(p.size());
		verdict v = compare(a, b);
		tot.documented_et += v.documented_et;
		tot.documented_icmp += v.documented_icmp;
		if (o.show)
			printf("--- %s ---\n%s", program_name(o, i).c_str(), diff_context(a, b, nat.name, other.name).c_str());
		if (v.diverged) {
			tot.divergences++;
			std::string sig = signature(v);
			// Printed first in every case: a timing-dependent divergence
			// does not come back when investigate() runs it again.
			printf("uepoll-fuzz: divergence in %s at op #%ld\n  %s: %s\n  %s: %s\n", program_name(o, i).c_str(),
			       v.op_id, nat.name, v.first_a.c_str(), other.name, v.first_b.c_str());
			if (o.minimize && seen.insert(sig).second)
				investigate(p, nat, other, program_name(o, i), tot);
			else if (o.minimize)
				printf("uepoll-fuzz: same kind as before: %s\n", sig.c_str());
			if (tot.divergences >= o.max_divergences)
				break;
		}
		lim.progress(tot, i - first + 1);
	}
}

void multithreaded(const options &o, totals &tot, clock_limit &lim)
{
	side s = tested_side(o);
	long first = o.only_program >= 0 ? o.only_program : 0;
	for (long i = first; tot.ops < o.ops && !lim.expired(); i++) {
		if (o.only_program >= 0 && i != o.only_program)
			break;
		mt_result r = run_mt(program_seed(o.seed, i), o.program_ops / 2, o.program_ops - o.program_ops / 2,
				     o.threads, s);
		tot.ops += r.ops;
		tot.waits += r.waits;
		if (!r.violations.empty()) {
			tot.divergences++;
			printf("uepoll-fuzz: PROPERTY VIOLATED in %s (threads %d) on %s:\n", program_name(o, i).c_str(),
			       o.threads, s.name);
			for (auto &v : r.violations)
				printf("  %s\n", v.c_str());
			printf("--- setup (one thread) ---\n%s--- mutator (while %d threads wait) ---\n%s", op_list(r.setup).c_str(),
			       o.threads - 1, op_list(r.mutator).c_str());
			fflush(stdout);
			if (tot.divergences >= o.max_divergences)
				break;
		}
		lim.progress(tot, i - first + 1);
	}
}

} // namespace

int main(int argc, char **argv)
{
	// A preloaded side's child, after its exec (runner.cpp).
	if (argc >= 4 && strcmp(argv[1], "--exec-side") == 0)
		return exec_side(atoi(argv[2]), atoi(argv[3]), argc >= 5 && strcmp(argv[4], "--emit") == 0);
	// A --threads round's child under --preload, after its exec (threads.cpp).
	if (argc == 7 && strcmp(argv[1], "--exec-threads") == 0)
		return exec_threads(argv + 2);
	options o = parse(argc, argv);
	setvbuf(stdout, nullptr, _IOLBF, 0);
	// Tiers (core/tiers.cpp): park an fd in a poller's shard at the first
	// wait that finds it idle, so that the programs exercise the cold
	// paths (demotion, a poller's wake-up, promotion) at almost every
	// step; read by the shim at its first call, in-process or preloaded.
	// An explicit UEPOLL_TIERS_DEMOTE_AFTER (or UEPOLL_TIERS=0) wins.
	setenv("UEPOLL_TIERS_DEMOTE_AFTER", "1", 0);
	totals tot;
	clock_limit lim{.minutes = o.minutes};
	bool ok;
	if (o.self_test) {
		ok = self_test(tot);
	} else {
		if (!o.replay.empty())
			replay(o, tot);
		else if (o.threads > 1)
			multithreaded(o, tot, lim);
		else
			differential(o, tot, lim);
		ok = tot.divergences == 0;
	}
	double secs = lim.seconds();
	if (o.threads > 1)
		printf("uepoll-fuzz: threads=%d concurrent epoll_wait calls=%ld\n", o.threads, tot.waits);
	printf("uepoll-fuzz: documented et_partial_read_rereport=%ld icmp_error_late=%ld\n", tot.documented_et,
	       tot.documented_icmp);
	printf("uepoll-fuzz: ops=%ld ops_per_s=%.0f divergences=%ld\n", tot.ops, secs > 0 ? tot.ops / secs : 0.0,
	       tot.divergences);
	return ok ? 0 : 1;
}
