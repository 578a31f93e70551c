/*
 * pwsync-samba-hook: the `--script` of `samba-tool user syncpasswords`, which runs it once per
 * changed account, without arguments, with that account's LDIF (its current state, the cleartext
 * password decrypted from Samba's GPG-encrypted copy) on standard input. It hands the LDIF as it
 * is to the pwsync agent's capture socket (format `samba-syncpasswords`) and prints
 * `DONE-EXIT: <answer>` once the agent has committed the change (or decided it is not to be
 * forwarded). Anything else, it exits 1 without DONE-EXIT: syncpasswords then stops and is started
 * again by the agent, from its cursor, so the change is offered again and never lost.
 *
 * The agent that supervises syncpasswords names its socket in PWSYNC_CAPTURE_SOCKET (a path, not
 * a secret). The LDIF holds a password: it is read into locked memory, sent, and wiped; it is
 * never written to a file, an argument or the environment, and the hook makes itself
 * non-dumpable with a core limit of 0 before reading it.
 */
#define _GNU_SOURCE
#include "capture-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* syncpasswords' LDIF of one account is a few KiB; the agent refuses more than this. */
#define MAX_LDIF 65536

int main(void) {
  /* The LDIF will hold a password: no core file (nor in what this process might start), no core
     dump through a core_pattern pipe, no ptrace or /proc/PID/mem by other processes of its user. */
  const struct rlimit no_core = {0, 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  (void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
  const char *socket_path = getenv("PWSYNC_CAPTURE_SOCKET");
  if (socket_path == NULL || socket_path[0] == '\0') {
    fprintf(stdout, "pwsync-samba-hook: PWSYNC_CAPTURE_SOCKET is not set; run syncpasswords from the pwsync agent\n");
    return 1;
  }
  const char *timeout_text = getenv("PWSYNC_HOOK_TIMEOUT_MS");
  int timeout_ms = timeout_text != NULL ? atoi(timeout_text) : 30000;
  if (timeout_ms <= 0) timeout_ms = 30000;

  static unsigned char ldif[MAX_LDIF];
  mlock(ldif, sizeof ldif);
  size_t length = 0;
  for (;;) {
    if (length == sizeof ldif) {
      explicit_bzero(ldif, sizeof ldif);
      fprintf(stdout, "pwsync-samba-hook: the LDIF on standard input is longer than %d bytes\n", MAX_LDIF);
      return 1;
    }
    ssize_t n = read(STDIN_FILENO, ldif + length, sizeof ldif - length);
    if (n > 0) {
      length += (size_t)n;
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      explicit_bzero(ldif, sizeof ldif);
      fprintf(stdout, "pwsync-samba-hook: reading standard input: %s\n", strerror(errno));
      return 1;
    }
  }
  if (length == 0) {
    fprintf(stdout, "pwsync-samba-hook: no LDIF on standard input\n");
    return 1;
  }

  char header[128];
  snprintf(header, sizeof header, "{\"v\":1,\"format\":\"samba-syncpasswords\",\"length\":%zu}", length);
  char answer[1024];
  /* Only the agent (root or the owner of the socket's directory) is given the LDIF. */
  struct pwsync_capture_peer peer;
  enum pwsync_capture_result result = PWSYNC_CAPTURE_UNTRUSTED;
  if (pwsync_capture_trust(socket_path, NULL, &peer, answer, sizeof answer) == 0) {
    result = pwsync_capture_send(socket_path, &peer, header, ldif, length, timeout_ms, answer, sizeof answer);
  }
  explicit_bzero(ldif, sizeof ldif);
  if (result == PWSYNC_CAPTURE_ANSWERED && pwsync_capture_answer_ok(answer)) {
    fprintf(stdout, "DONE-EXIT: %s\n", answer);
    return 0;
  }
  fprintf(stdout, "pwsync-samba-hook: not taken: %s\n", answer);
  return 1;
}
