/* The floor for cron lateness: how late this machine wakes a thread that
 * sleeps until a deadline, with nothing else in the way.
 *
 *   timer_loop TICKS PERIOD_US
 *
 * Sleeps TICKS times until start + k * PERIOD_US on a timerfd through
 * epoll_wait(), the way Asio's reactor waits for its timers, and prints
 * each wake-up's lateness (wake-up minus deadline) in nanoseconds, one a
 * line. Built by bench/cron/run.sh with `cc -O2`. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s TICKS PERIOD_US\n", argv[0]);
    return 2;
  }
  long ticks = atol(argv[1]);
  long long period = atoll(argv[2]) * 1000LL;
  if (ticks < 1 || period < 1000) {
    fprintf(stderr, "timer_loop: TICKS must be >= 1 and PERIOD_US >= 1\n");
    return 2;
  }
  long long *late = malloc(sizeof *late * (size_t)ticks);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  if (!late || tfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) {
    perror("timer_loop");
    return 1;
  }
  long long start = now_ns();
  for (long i = 0; i < ticks; i++) {
    long long due = start + (i + 1) * period;
    struct itimerspec spec = {.it_value = {.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL}};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) {
      perror("timer_loop: timerfd_settime");
      return 1;
    }
    struct epoll_event out;
    unsigned long long expirations;
    while (epoll_wait(ep, &out, 1, -1) != 1) {
    }
    late[i] = now_ns() - due;
    if (read(tfd, &expirations, sizeof expirations) < 0) {
      perror("timer_loop: read");
      return 1;
    }
  }
  for (long i = 0; i < ticks; i++) printf("%lld\n", late[i]);
  return 0;
}
