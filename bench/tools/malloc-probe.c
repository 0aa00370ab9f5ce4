// Diagnostic for the P4 benchmark (bench/remote-flood.bench.ts, BENCH_MEMORY_PROBE_DIR): preloaded
// into a `kiln receiver`, a thread reads commands from the FIFO named by MPROBE_FIFO. A path: writes
// malloc_info(3) XML there (per arena: free chunks and system bytes). `trim`: runs malloc_trim(0),
// which returns the free pages inside the heap (what glibc never returns by itself).
//
//   gcc -O2 -shared -fPIC -o /tmp/malloc-probe.so bench/tools/malloc-probe.c -lpthread
//   mkdir /tmp/p && mkfifo /tmp/p/mprobe.fifo
//   BENCH_MEMORY_PROBE_DIR=/tmp/p BENCH_RECEIVER_ENV="LD_PRELOAD=/tmp/malloc-probe.so MPROBE_FIFO=/tmp/p/mprobe.fifo" npm run bench -- logs
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *run(void *arg) {
  const char *fifo = arg;
  char cmd[512];
  for (;;) {
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, cmd, sizeof cmd - 1);
    close(fd);
    if (n <= 0) continue;
    cmd[n] = 0;
    char *nl = strchr(cmd, '\n');
    if (nl) *nl = 0;
    if (strcmp(cmd, "trim") == 0) {
      malloc_trim(0);
      continue;
    }
    FILE *f = fopen(cmd, "w");
    if (!f) continue;
    malloc_info(0, f);
    fclose(f);
  }
}

__attribute__((constructor)) static void init(void) {
  const char *fifo = getenv("MPROBE_FIFO");
  if (!fifo || !*fifo) return;
  unsetenv("LD_PRELOAD"); // not into the receiver's children (esphome)
  pthread_t t;
  pthread_create(&t, NULL, run, strdup(fifo));
  pthread_detach(t);
}
