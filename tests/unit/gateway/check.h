/*
 * CHECK, the assertion of the gateway's thread tests (tests/unit/gateway), which run
 * two ways: under criterion like every unit test, and built with -fsanitize=thread
 * as a program of their own. Criterion cannot start under ThreadSanitizer: it maps
 * its inheritable arena at random addresses in the range TSan reserves for itself
 * ("Could not initialize inheritable arena", Snaipe/Criterion issue 274). So each
 * such test file writes its checks as plain functions of a row index, wraps them in
 * criterion tests, and lists them once more for CHECK_MAIN, which a TSan build uses
 * as its main instead of criterion's: it runs every check in turn, and a failed
 * CHECK prints its message and exits 1.
 */
#ifndef WSGATE_TESTS_UNIT_GATEWAY_CHECK_H
#define WSGATE_TESTS_UNIT_GATEWAY_CHECK_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define CHECK_STANDALONE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_STANDALONE 1
#endif
#endif

#ifdef CHECK_STANDALONE

__attribute__((format(printf, 4, 5), noreturn)) static void
check_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: CHECK(%s) failed: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* CHECK(condition, format, ...): the format is required. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                    \
    } while (0)
#define CHECK_LOG(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

#else

#define CHECK(cond, ...) cr_assert(cond, __VA_ARGS__)
#define CHECK_LOG(...)   cr_log_info(__VA_ARGS__)

#endif

/* One check of a test file: fn(i) for every row i < rows. */
struct check_case {
    const char *name;
    void (*fn)(size_t i);
    size_t rows;
};

#define CHECK_CASE_TIMEOUT 300 /* seconds a check may take in a standalone run */

#ifdef CHECK_STANDALONE
/* The standalone program: runs cases[0..n) in order. */
#define CHECK_MAIN(cases)                                                                          \
    int main(void)                                                                                 \
    {                                                                                              \
        for (size_t c_ = 0; c_ < sizeof(cases) / sizeof((cases)[0]); c_++)                         \
            for (size_t i_ = 0; i_ < (cases)[c_].rows; i_++) {                                     \
                fprintf(stderr, "== %s [%zu]\n", (cases)[c_].name, i_);                            \
                alarm(CHECK_CASE_TIMEOUT);                                                         \
                (cases)[c_].fn(i_);                                                                \
            }                                                                                      \
        alarm(0);                                                                                  \
        fprintf(stderr, "== all checks passed\n");                                                 \
        return 0;                                                                                  \
    }
#else
#define CHECK_MAIN(cases)
#endif

#endif
