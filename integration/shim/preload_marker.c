/* preload_marker.c - libshimtest_marker.so: a library that does nothing.
 *
 * launcher.sh preloads it before running the `uepoll` launcher, to check
 * that the launcher keeps an existing LD_PRELOAD (and puts libuepoll.so
 * first).  preload_probe finds it in its /proc/self/maps.
 */
__attribute__((visibility("default"))) int shimtest_marker_present(void) { return 1; }
