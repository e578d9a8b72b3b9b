#include "testutil.h"

static duet_tensor *body_add(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_add(c, x[0], x[1]); }

static void test_add_forward(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, a, true}, {DUET_F32, 1, {3}, b, true}};
    float expect[6] = {11, 22, 33, 14, 25, 36};
    tu_check_forward(body_add, NULL, in, 2, 2, (int64_t[]){2, 3}, expect, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_add_forward)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
