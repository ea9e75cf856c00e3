/* batch_pace: the console batch delay follows how busy the loop is. */
#include "test.h"

#include "batch_pace.h"

#define MS 1000000ull /* ns */
#define W  ((uint64_t)BATCH_PACE_WINDOW_MS * MS)

/* A clock and a busy total that the tests advance window by window. */
struct sim {
    struct batch_pace pace;
    uint64_t now, busy;
};

static void sim_init(struct sim *s, uint32_t max_ms)
{
    s->now = 1000 * MS;
    s->busy = 77 * MS;
    batch_pace_init(&s->pace, max_ms, s->now, s->busy);
}

/* One window of `len` ns in which the loop worked `percent` of the time; the delay after. */
static uint32_t sim_window(struct sim *s, uint64_t len, unsigned percent)
{
    s->now += len;
    s->busy += len * percent / 100;
    return batch_pace_ms(&s->pace, s->now, s->busy);
}

/* `n` whole windows at `percent` busy; the delay after them. */
static uint32_t sim_windows(struct sim *s, int n, unsigned percent)
{
    for (int i = 0; i < n; i++)
        sim_window(s, W, percent);
    return s->pace.ms;
}

TEST(batch_pace_stays_at_zero_while_the_loop_is_not_busy)
{
    struct sim s;
    sim_init(&s, 50);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(sim_window(&s, W, 45), 0);
}

TEST(batch_pace_rises_by_half_again_to_its_cap_while_busy)
{
    struct sim s;
    sim_init(&s, 50);
    const uint32_t want[] = {1, 2, 4, 7, 11, 17, 26, 40, 50, 50, 50};
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        CHECK_EQ_INT(sim_window(&s, W, 80), want[i]);
}

TEST(batch_pace_holds_between_its_thresholds_and_falls_below)
{
    struct sim s;
    sim_init(&s, 50);
    CHECK_EQ_INT(sim_windows(&s, 6, 90), 17);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(sim_window(&s, W, 30), 17); /* settled: no swinging back */
    CHECK_EQ_INT(sim_window(&s, W, 10), 8);
    CHECK_EQ_INT(sim_window(&s, W, 10), 4);
    CHECK_EQ_INT(sim_window(&s, 2 * W, 10), 1); /* halved per window passed */
    CHECK_EQ_INT(sim_window(&s, W, 10), 0);
}

TEST(batch_pace_judges_a_window_only_once_it_is_whole)
{
    struct sim s;
    sim_init(&s, 50);
    CHECK_EQ_INT(sim_window(&s, W - 1, 100), 0);
    CHECK_EQ_INT(sim_window(&s, 1, 100), 1); /* the whole window, 100 % busy */
    CHECK_EQ_INT(sim_window(&s, W / 2, 0), 1);
    CHECK_EQ_INT(sim_window(&s, W / 2, 100), 1); /* 50 %: not above the threshold */
}

TEST(batch_pace_forgets_a_busy_spell_after_a_quiet_one)
{
    struct sim s;
    sim_init(&s, 1000);
    CHECK_EQ_INT(sim_windows(&s, 30, 100), 1000);
    CHECK_EQ_INT(sim_window(&s, 3600 * 1000 * MS, 1), 0); /* an hour without output */
}

TEST(batch_pace_with_no_cap_never_batches)
{
    struct sim s;
    sim_init(&s, 0);
    CHECK_EQ_INT(sim_windows(&s, 5, 100), 0);
}

TEST(batch_pace_slots_keep_each_port_on_its_grid_and_spread_the_ports)
{
    for (uint64_t now = 1000; now < 1100; now++) {
        uint32_t wait = batch_pace_until_slot(7, 50, now);
        CHECK(wait >= 1 && wait <= 50);
        CHECK_EQ_INT((now + wait) % 50, (1000 + batch_pace_until_slot(7, 50, 1000)) % 50);
    }
    int per_slot[BATCH_PACE_SLOTS] = {0};
    for (uint64_t id = 1; id <= 64; id++) { /* Ids as allocations give them: in a row */
        uint32_t due = (uint32_t)((5000 + batch_pace_until_slot(id, 80, 5000)) % 80);
        CHECK_EQ_INT(due % (80 / BATCH_PACE_SLOTS), 0); /* on one of the slots */
        per_slot[due / (80 / BATCH_PACE_SLOTS)]++;
    }
    for (int i = 0; i < BATCH_PACE_SLOTS; i++) /* and spread: about 8 ports each */
        CHECK(per_slot[i] >= 4 && per_slot[i] <= 12);
    CHECK_EQ_INT(batch_pace_until_slot(3, 1, 12345), 1);
}
