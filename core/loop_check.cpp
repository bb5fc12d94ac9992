// core/loop_check.cpp - twins of ep_loop_check() and reverse_path_check():
// no cycles of epoll instances, no chain of more than EP_MAX_NESTS links
// (counted down from the target and up from the instance added to), and
// no file reachable through too many wake-up paths.  Everything here runs
// under epnested_mutex (taken by do_epoll_ctl), so the globals need no
// other lock, as in the kernel.
#include <algorithm>

#include "core/internal.hpp"

namespace uepoll::core {

// Twin of loop_check_gen; read without epnested_mutex by do_epoll_ctl (the
// kernel uses READ_ONCE), hence atomic.
static std::atomic<uint64_t> loop_check_gen{0};
static eventpoll *inserting_into;        // twin of inserting_into
// Twin of tfile_check_list: files with newly added links.
// Never destroyed: a thread may be in epoll_ctl while exit() runs the
// static destructors.
static std::vector<epfile *, slab_allocator<epfile *>> &tfile_check_list_ref()
{
	return static_forever<std::vector<epfile *, slab_allocator<epfile *>>>();
}

// Twin of PATH_ARR_SIZE / path_limits / path_count.
constexpr int PATH_ARR_SIZE = 5;
static const int path_limits[PATH_ARR_SIZE] = {1000, 500, 100, 50, 10};
static int path_count[PATH_ARR_SIZE];

void loop_check_begin()
{
	epnested_mutex.assert_held();
	loop_check_gen++;
}
uint64_t loop_check_gen_now() { return loop_check_gen; }

// Twin of clear_tfile_check_list() plus the generation bump that ends a check.
void loop_check_done()
{
	epnested_mutex.assert_held();
	for (epfile *f : tfile_check_list_ref())
		epfile_put(f);
	tfile_check_list_ref().clear();
	loop_check_gen++;
}

// Twin of list_file().
void list_file(epfile *f)
{
	epnested_mutex.assert_held();
	if (std::find(tfile_check_list_ref().begin(), tfile_check_list_ref().end(), f) != tfile_check_list_ref().end())
		return;
	if (epfile_tryget(f))
		tfile_check_list_ref().push_back(f);
}

using ep_vector = std::vector<eventpoll *, slab_allocator<eventpoll *>>;

// The instances watching file f (twin of walking f->f_ep under RCU), each
// with a reference on its file; the caller puts them.
static ep_vector watchers(epfile *f)
{
	ep_vector v;
	std::lock_guard g(f->f_lock);
	for (epitem &epi : f->f_ep)
		if (epfile_tryget(epi.ep->file))
			v.push_back(epi.ep);
	return v;
}

static void put_all(const ep_vector &v)
{
	for (eventpoll *ep : v)
		epfile_put(ep->file);
}

// Twin of ep_loop_check_proc(): the depth of the subtree below ep, or more
// than EP_MAX_NESTS for a loop or a chain too deep.
static int ep_loop_check_proc(eventpoll *ep, int depth)
{
	if (ep->gen.load() == loop_check_gen.load())
		return ep->loop_check_depth;
	int result = 0;
	std::lock_guard m(ep->mtx);
	ep->gen = loop_check_gen.load();
	for (epitem &epi : ep->rbr) {
		epfile *f = epi.file;
		if (is_file_epoll(f)) {
			eventpoll *ep_tovisit = f->ep;
			if (ep_tovisit == inserting_into || depth > EP_MAX_NESTS)
				result = EP_MAX_NESTS + 1;
			else
				result = std::max(result, ep_loop_check_proc(ep_tovisit, depth + 1) + 1);
			if (result > EP_MAX_NESTS)
				break;
		} else {
			// A plain file below the target: the new links may add wake-up
			// paths to it; reverse_path_check() counts them.
			list_file(f);
		}
	}
	ep->loop_check_depth = result;
	return result;
}

// Twin of ep_get_upwards_depth_proc(): how many instances watch ep, transitively.
static int ep_get_upwards_depth_proc(eventpoll *ep, int depth)
{
	if (ep->gen.load() == loop_check_gen.load())
		return ep->loop_check_depth;
	int result = 0;
	ep_vector up = watchers(ep->file);
	for (eventpoll *w : up)
		result = std::max(result, ep_get_upwards_depth_proc(w, depth + 1) + 1);
	put_all(up);
	ep->gen = loop_check_gen.load();
	ep->loop_check_depth = result;
	return result;
}

// Twin of ep_loop_check(): 0 if adding `to` into `ep` makes no loop and no
// chain deeper than EP_MAX_NESTS, -1 otherwise.
int ep_loop_check(eventpoll *ep, eventpoll *to)
{
	epnested_mutex.assert_held();
	inserting_into = ep;
	int depth = ep_loop_check_proc(to, 0);
	if (depth > EP_MAX_NESTS)
		return -1;
	int upwards_depth = ep_get_upwards_depth_proc(ep, 0);
	return depth + 1 + upwards_depth > EP_MAX_NESTS ? -1 : 0;
}

// Twin of path_count_inc().
static int path_count_inc(int nests)
{
	// Allow an arbitrary number of depth 1 paths.
	if (nests == 0)
		return 0;
	if (++path_count[nests] > path_limits[nests])
		return -1;
	return 0;
}

// Twin of reverse_path_check_proc(): walk up from the items watching a
// file and count the paths that end at a top-level instance, by length.
static int reverse_path_check_proc(epfile *f, int depth)
{
	if (depth > EP_MAX_NESTS)
		return -1;
	ep_vector up = watchers(f);
	int error = 0;
	for (size_t i = 0; i < up.size() && error == 0; i++) {
		bool top;
		{
			std::lock_guard g(up[i]->file->f_lock);
			top = up[i]->file->f_ep.empty();
		}
		if (top)
			error = path_count_inc(depth);
		else
			error = reverse_path_check_proc(up[i]->file, depth + 1);
	}
	put_all(up);
	return error;
}

// Twin of reverse_path_check(): every file with new links stays within
// path_limits.
int reverse_path_check()
{
	epnested_mutex.assert_held();
	for (epfile *f : tfile_check_list_ref()) {
		std::fill(path_count, path_count + PATH_ARR_SIZE, 0);
		if (reverse_path_check_proc(f, 0))
			return -1;
	}
	return 0;
}

} // namespace uepoll::core
