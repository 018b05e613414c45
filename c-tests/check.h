/* The C tests' counting check: CHECK(cond) counts a pass, or prints the condition that
 * failed with libvirt's last error message. Each test prints `passed` and `failed` at
 * its end. */
#ifndef VIRSHIM_C_TESTS_CHECK_H
#define VIRSHIM_C_TESTS_CHECK_H

#include <libvirt/virterror.h>
#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) {                                                                 \
            passed++;                                                               \
        } else {                                                                    \
            failed++;                                                               \
            printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                   virGetLastErrorMessage());                                       \
        }                                                                           \
    } while (0)

#endif
