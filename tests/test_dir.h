/*  test_dir: a fresh temporary directory per unit test, and its removal
 *  with everything in it. Header-only: each test program is one file.
 */
#ifndef ZVH_TEST_DIR_H
#define ZVH_TEST_DIR_H

#include <czmq.h>

//  Make /tmp/zvh-test-<name>-XXXXXX in dir (size bytes); false on failure.
static inline bool
test_dir_make (char *dir, size_t size, const char *name)
{
    snprintf (dir, size, "/tmp/zvh-test-%s-XXXXXX", name);
    return mkdtemp (dir) != NULL;
}

//  Remove dir and everything in it.
static inline void
test_dir_remove (const char *dir)
{
    zdir_t *tree = zdir_new (dir, NULL);
    if (tree)
        zdir_remove (tree, true);
    zdir_destroy (&tree);
}

#endif
