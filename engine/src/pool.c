/* The context's thread pool: threads - 1 persistent workers, started at the first
 * parallel loop that is worth splitting, plus the calling thread.
 *
 * pthreads rather than OpenMP: a pool per context (contexts may run different thread
 * counts in one process), started lazily and rebuilt after fork() (the harness runs
 * cases in child processes, which inherit no threads), with no runtime library to
 * link or initialise for the many programs that never run a big kernel.
 *
 * Determinism: a loop is cut into tasks by its caller from the problem's shape alone;
 * threads only claim tasks, so which thread runs a task never changes what it
 * computes, and results do not depend on the thread count.
 *
 * A job: the caller publishes (fn, arg, ntasks) under the mutex with a new
 * generation, then everyone claims tasks from a ticket that holds the generation
 * and the next task index. A worker that wakes late for a finished job finds its
 * generation gone from the ticket and claims nothing, so the caller waits only for
 * the tasks, never for a worker that has not been scheduled yet. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* A loop with less work than this (about a few microseconds of arithmetic) runs on
 * the calling thread: waking a worker costs more than it would save. */
#define POOL_MIN_WORK (4 * DUET_TASK_WORK) /* 2^18 */
/* Idle workers poll for this many pause instructions (some tens of microseconds)
 * before sleeping, so the kernels of one step, a few microseconds apart, find them
 * awake; longer polling would take the core from other processes. */
#define POOL_SPIN 4000

/* The test knob (duet_pool_force_split): the least work split and a task's share. */
static double min_work = POOL_MIN_WORK, task_work = DUET_TASK_WORK;

void duet_pool_force_split(bool on)
{
    min_work = on ? 0 : POOL_MIN_WORK;
    task_work = on ? DUET_TASK_WORK / 64 : DUET_TASK_WORK;
}

typedef struct pool_job {
    uint32_t gen;
    duet_task_fn fn;
    void *arg;
    int64_t ntasks;
} pool_job;

struct duet_pool {
    pid_t pid; /* the process whose threads these are */
    int nworkers;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pool_job job;          /* under mu */
    bool stop;             /* under mu */
    _Atomic uint32_t gen;  /* job.gen, readable without the lock for polling */
    _Atomic uint64_t ticket; /* gen << 32 | next task */
    _Atomic int64_t finished; /* tasks of the current job done */
    int64_t jobs;             /* jobs run on the workers (duet_pool_jobs) */
};

/* Set on pool workers: a loop started inside a task runs there, serially. */
static _Thread_local bool in_worker;

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs tasks of job until none is left; shared by workers and the caller. */
static void run_tasks(duet_pool *p, const pool_job *job)
{
    uint64_t t = atomic_load(&p->ticket);
    while ((uint32_t)(t >> 32) == job->gen && (int64_t)(t & 0xffffffffu) < job->ntasks) {
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue;
        job->fn(job->arg, (int64_t)(t & 0xffffffffu));
        if (atomic_fetch_add(&p->finished, 1) + 1 == job->ntasks) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
        t = atomic_load(&p->ticket);
    }
}

static void *worker_main(void *arg)
{
    duet_pool *p = arg;
    in_worker = true;
    uint32_t seen = 0; /* a new pool's generation: a job published before this thread
                          ran is one to take part in, not one already seen */
    for (;;) {
        for (int i = 0; i < POOL_SPIN && atomic_load(&p->gen) == seen; i++) cpu_pause();
        pthread_mutex_lock(&p->mu);
        while (p->job.gen == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        pool_job job = p->job;
        pthread_mutex_unlock(&p->mu);
        seen = job.gen;
        run_tasks(p, &job);
    }
}

void duet_pool_free(duet_pool *p)
{
    if (!p) return;
    if (p->pid == getpid()) { /* a forked child inherited the memory but not the threads */
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->nworkers; i++) pthread_join(p->tid[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}

/* A pool of nworkers threads, or fewer if the system refuses more (threads are a
 * speed-up, not a result: a loop runs on whatever threads there are). NULL when
 * out of memory. */
static duet_pool *pool_new(int nworkers)
{
    duet_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->tid = calloc((size_t)nworkers, sizeof *p->tid);
    if (!p->tid || pthread_mutex_init(&p->mu, NULL)) {
        free(p->tid);
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->pid = getpid();
    for (; p->nworkers < nworkers; p->nworkers++)
        if (pthread_create(&p->tid[p->nworkers], NULL, worker_main, p)) break;
    return p;
}

/* The context's pool, started (or restarted in a forked child) on first use. */
static duet_pool *ctx_pool(duet_ctx *ctx)
{
    if (ctx->pool && ctx->pool->pid != getpid()) {
        duet_pool_free(ctx->pool);
        ctx->pool = NULL;
    }
    if (!ctx->pool) ctx->pool = pool_new(ctx->threads - 1);
    return ctx->pool;
}

void duet_parallel_for(duet_ctx *ctx, int64_t ntasks, double work, duet_task_fn fn, void *arg)
{
    duet_pool *p;
    if (ntasks > 1 && ntasks <= (int64_t)UINT32_MAX && ctx->threads > 1 && !in_worker &&
        work >= min_work && (p = ctx_pool(ctx)) && p->nworkers > 0) {
        p->jobs++;
        pthread_mutex_lock(&p->mu);
        pool_job job = {p->job.gen + 1, fn, arg, ntasks};
        p->job = job;
        atomic_store(&p->finished, 0);
        atomic_store(&p->ticket, (uint64_t)job.gen << 32);
        atomic_store(&p->gen, job.gen);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, &job);
        for (int i = 0; i < POOL_SPIN && atomic_load(&p->finished) < ntasks; i++) cpu_pause();
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->finished) < ntasks) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    for (int64_t t = 0; t < ntasks; t++) fn(arg, t);
}

/* duet_parallel_range's task: one run of items. */
typedef struct range_job {
    duet_range_fn fn;
    void *arg;
    int64_t n, per;
} range_job;

static void range_task(void *arg, int64_t t)
{
    const range_job *j = arg;
    int64_t begin = t * j->per, end = begin + j->per < j->n ? begin + j->per : j->n;
    j->fn(j->arg, begin, end);
}

int64_t duet_task_items(double item_work, int64_t align)
{
    double per = item_work > 0 ? task_work / item_work : task_work;
    int64_t items = per < 1 ? 1 : per > (double)INT32_MAX ? INT32_MAX : (int64_t)per;
    return (items + align - 1) / align * align;
}

void duet_parallel_range(duet_ctx *ctx, int64_t n, double item_work, int64_t align,
                         duet_range_fn fn, void *arg)
{
    if (n <= 0) return;
    range_job j = {fn, arg, n, duet_task_items(item_work, align)};
    duet_parallel_for(ctx, (n + j.per - 1) / j.per, item_work * (double)n, range_task, &j);
}

int64_t duet_pool_jobs(const duet_ctx *ctx)
{
    return ctx->pool && ctx->pool->pid == getpid() ? ctx->pool->jobs : 0;
}

int duet_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DUET_MAX_THREADS ? DUET_MAX_THREADS : (int)n;
}

duet_status duet_ctx_set_threads(duet_ctx *ctx, int n)
{
    if (n < 0 || n > DUET_MAX_THREADS) return DUET_ERR_ARG;
    int want = n ? n : duet_online_cpus();
    if (want != ctx->threads) {
        duet_pool_free(ctx->pool);
        ctx->pool = NULL;
        ctx->threads = want;
    }
    /* started now, at set-up, rather than by the first step's first big loop, which
     * would count the threads' creation (and their stacks' first pages) in it */
    if (want > 1) ctx_pool(ctx);
    return DUET_OK;
}

int duet_ctx_threads(const duet_ctx *ctx) { return ctx->threads; }
