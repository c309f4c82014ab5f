/*
 * A very small unit-test harness: CHECK() records a failure with its
 * location and goes on; UNIT_MAIN runs the listed tests and prints the one
 * closing line CI reads ("N passed, N failed").
 */

#ifndef MCP_UNIT_H
#define MCP_UNIT_H

#include <stdio.h>
#include <string.h>

static int  unit_checks_failed;
static int  unit_current_failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,         \
                    __LINE__, #cond);                                        \
            unit_current_failed = 1;                                         \
            unit_checks_failed++;                                            \
        }                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
    do {                                                                     \
        long long  unit_a_ = (long long) (a), unit_b_ = (long long) (b);     \
        if (unit_a_ != unit_b_) {                                            \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n",      \
                    __FILE__, __LINE__, #a, #b, unit_a_, unit_b_);           \
            unit_current_failed = 1;                                         \
            unit_checks_failed++;                                            \
        }                                                                    \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
    do {                                                                     \
        const char  *unit_a_ = (a), *unit_b_ = (b);                          \
        if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_)) {\
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n",  \
                    __FILE__, __LINE__, #a, #b, unit_a_ ? unit_a_ : "(null)",\
                    unit_b_ ? unit_b_ : "(null)");                           \
            unit_current_failed = 1;                                         \
            unit_checks_failed++;                                            \
        }                                                                    \
    } while (0)

typedef struct {
    const char  *name;
    void       (*fn)(void);
} unit_test_t;

#define UNIT_TEST(fn)  { #fn, fn }

static inline int
unit_run(const char *suite, const unit_test_t *tests, size_t n)
{
    size_t  i, passed = 0, failed = 0;

    for (i = 0; i < n; i++) {
        unit_current_failed = 0;
        tests[i].fn();
        if (unit_current_failed) {
            fprintf(stderr, "FAIL %s.%s\n", suite, tests[i].name);
            failed++;
        } else {
            passed++;
        }
    }

    printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define UNIT_MAIN(suite, ...)                                                \
    int main(void)                                                           \
    {                                                                        \
        static const unit_test_t  unit_tests_[] = { __VA_ARGS__ };          \
        return unit_run(suite, unit_tests_,                                  \
                        sizeof(unit_tests_) / sizeof(unit_tests_[0]));       \
    }

#endif /* MCP_UNIT_H */
