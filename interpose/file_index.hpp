// interpose/file_index.hpp - the open files the fd table holds, kept in
// the kernel's order of their struct file pointers, so that an fd we did
// not see made is matched to the file we track in O(log n) kcmp calls.
//
// kcmp(KCMP_FILE) answers 0 (same file), 1 (the first fd's file sorts
// before the second's) or 2 (after): an order that holds as long as both
// files live.  Each entry is compared through its file's poll_fd, checked
// to still be that file's number in the fd table; an entry that fails the
// check is dropped on the way.  No per-call work grows with the number of
// open files but the O(log n) comparisons of a search (and a memmove of
// entries on insert and remove); a removal makes none (file_index.cpp,
// LABELS).
#pragma once

#include <cstddef>

#include "core/eventpoll.hpp"

namespace uepoll::interpose {

// Where a search that found nothing would insert: a following add of the
// same fd's file skips its own search if the index has not changed since.
struct index_spot {
	bool valid = false;
	size_t pos = 0;
	unsigned long generation = 0;
};

// f was installed in the table at fd (a new file for us): index it.
// spot: from file_index_find(fd) just before, or nullptr.
void file_index_add(core::epfile *f, int fd, const index_spot *spot = nullptr);
// fd, f's last known fd, is about to be closed: drop f (O(log n), found
// by its label: no kcmp).  True if it was there.
bool file_index_remove_fd(core::epfile *f, int fd);
// f died without file_index_remove_fd() (its number was reused behind our
// back): drop it before its last reference goes (by its label too).
// Every entry must leave before its file is freed: a search reads it.
void file_index_remove(core::epfile *f);
// The indexed file that fd (an fd of this process) is, referenced; nullptr
// when none.  *usable is false when the kernel would not compare (kcmp
// unavailable): the caller must search another way.
core::epfile *file_index_find(int fd, bool *usable, index_spot *spot = nullptr);

} // namespace uepoll::interpose
