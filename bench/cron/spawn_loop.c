/* The ceiling for the shell runtime: how many times a second this machine
 * can start a program and wait for it, with nothing else in the way.
 *
 *   spawn_loop SECONDS LOOPS [PROGRAM]      PROGRAM defaults to /bin/true
 *
 * Runs LOOPS threads, each doing posix_spawn(PROGRAM) then waitpid() in a
 * loop for SECONDS, and prints one line: "<loops> <spawns> <seconds> <spawns/s>".
 * Built by bench/cron/run.sh with `cc -O2 -pthread`. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static const char *program = "/bin/true";
static double deadline;
static atomic_ullong spawns;
static atomic_int failed;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *loop(void *arg) {
  (void)arg;
  char *argv[] = {(char *)program, NULL};
  unsigned long long n = 0;
  while (now() < deadline && !atomic_load(&failed)) {
    pid_t pid;
    int rc = posix_spawn(&pid, program, NULL, NULL, argv, environ);
    if (rc != 0) {
      fprintf(stderr, "spawn_loop: posix_spawn %s: %s\n", program, strerror(rc));
      atomic_store(&failed, 1);
      break;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        perror("spawn_loop: waitpid");
        atomic_store(&failed, 1);
        return NULL;
      }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn_loop: %s exited with status %d\n", program, status);
      atomic_store(&failed, 1);
      break;
    }
    n++;
  }
  atomic_fetch_add(&spawns, n);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s SECONDS LOOPS [PROGRAM]\n", argv[0]);
    return 2;
  }
  double seconds = atof(argv[1]);
  int loops = atoi(argv[2]);
  if (argc == 4) program = argv[3];
  if (seconds <= 0 || loops < 1 || loops > 256) {
    fprintf(stderr, "spawn_loop: SECONDS must be > 0 and LOOPS between 1 and 256\n");
    return 2;
  }
  pthread_t threads[256];
  double start = now();
  deadline = start + seconds;
  for (int i = 0; i < loops; i++) {
    int rc = pthread_create(&threads[i], NULL, loop, NULL);
    if (rc != 0) {
      fprintf(stderr, "spawn_loop: pthread_create: %s\n", strerror(rc));
      return 1;
    }
  }
  for (int i = 0; i < loops; i++) pthread_join(threads[i], NULL);
  double elapsed = now() - start;
  if (atomic_load(&failed)) return 1;
  unsigned long long total = atomic_load(&spawns);
  printf("%d %llu %.3f %.1f\n", loops, total, elapsed, (double)total / elapsed);
  return 0;
}
