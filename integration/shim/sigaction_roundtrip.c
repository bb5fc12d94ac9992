/* integration/shim/sigaction_roundtrip.c - what a program sees of its own
 * signal handlers.  The shim installs each handler behind a wrapper
 * (interpose/hooks_signal.cpp); the program must still read back exactly
 * what it installed, get its one-shot and siginfo semantics, and see
 * signal()'s return values as natively.
 */
#include <signal.h>

#include "shimtest.h"

static volatile sig_atomic_t plain_runs, info_runs, oneshot_runs, info_value;

static void plain(int sig) { (void)sig; plain_runs++; }
static void oneshot(int sig) { (void)sig; oneshot_runs++; }
static void with_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	info_value = si->si_value.sival_int;
	info_runs++;
}

int main(void)
{
	struct sigaction sa = {0}, old = {0};
	sa.sa_handler = plain;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	st_step("install plain", sigaction(SIGUSR1, &sa, NULL));
	st_step("read back", sigaction(SIGUSR1, NULL, &old));
	st_step("read back: same handler", old.sa_handler == plain);
	st_step("read back: same flags", (old.sa_flags & (SA_RESTART | SA_SIGINFO | SA_RESETHAND)) == SA_RESTART);
	st_step("read back: same mask", sigismember(&old.sa_mask, SIGUSR2));
	st_step("raise", raise(SIGUSR1));
	st_step("plain ran", plain_runs);

	sa.sa_sigaction = with_info;
	sa.sa_flags = SA_SIGINFO;
	st_step("install siginfo handler, old is plain", sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_handler == plain);
	union sigval v = {.sival_int = 4242};
	st_step("sigqueue", sigqueue(getpid(), SIGUSR1, v));
	st_step("siginfo handler ran", info_runs);
	st_step("its value", info_value);

	st_step("signal() returns the siginfo handler",
		(void *)signal(SIGUSR1, SIG_IGN) == (void *)with_info);
	st_step("signal() returns SIG_IGN", signal(SIGUSR1, plain) == SIG_IGN);
	st_step("signal() returns plain", signal(SIGUSR1, SIG_DFL) == plain);

	sa.sa_handler = oneshot;
	sa.sa_flags = SA_RESETHAND;
	st_step("install one-shot", sigaction(SIGUSR2, &sa, NULL));
	st_step("raise", raise(SIGUSR2));
	st_step("one-shot ran", oneshot_runs);
	st_step("read back after it ran", sigaction(SIGUSR2, NULL, &old));
	st_step("now SIG_DFL", old.sa_handler == SIG_DFL);
	st_step("bad signal number", sigaction(0, &sa, NULL));
	st_step("SIGKILL", sigaction(SIGKILL, &sa, NULL));
	return 0;
}
