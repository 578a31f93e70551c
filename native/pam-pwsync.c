/*
 * pam_pwsync: hands a successful password change to the local pwsync agent.
 *
 * Configured as the LAST line of the `password` stack, `optional`, after pam_unix and the
 * `requisite pam_deny` that stops the stack when pam_unix failed: it runs only when the new
 * password was set locally. In the PAM_UPDATE_AUTHTOK pass it reads PAM_USER and PAM_AUTHTOK
 * (pam_get_item: it never prompts) and writes one capture frame to the agent's socket: the JSON
 * header line, then the password's raw bytes (docs/agent.md, "The capture socket protocol").
 *
 * It never makes a password change fail or hang: it always returns PAM_IGNORE, and everything it
 * does is bounded by `timeout`. A change the agent did not take is logged (authpriv, warning) and
 * recorded, without the password, in the "missed" file, which the agent reports as event 7050.
 *
 * The password goes to the socket and nowhere else: not to the environment, an argument, a file
 * or a log line (this is why pwsync has its own module instead of pam_exec or pam_script; see
 * docs/sources/linux-pam.md).
 *
 * The password goes only to the agent: the socket's directory must be root's or the agent's user's
 * and writable by no one else, and the process listening at the socket must run as root or as the
 * agent's user (SO_PEERCRED), checked before a byte is written; otherwise nothing is sent and the
 * change is recorded as missed.
 *
 * Arguments: socket=PATH (default /var/lib/pwsync-agent/capture.sock), user=NAME (the agent's
 * user; without it, the owner of the socket's directory when only root can have made that
 * directory), timeout=MS (default 2000, clamped to 100..10000), source=NAME, missed=PATH (default
 * /var/lib/pwsync-agent/pam-missed.jsonl; "missed=" turns it off), debug.
 */
#define _GNU_SOURCE
#include "capture-client.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_PASSWORD
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define DEFAULT_SOCKET "/var/lib/pwsync-agent/capture.sock"
#define DEFAULT_MISSED "/var/lib/pwsync-agent/pam-missed.jsonl"
#define DEFAULT_TIMEOUT_MS 2000
#define MIN_TIMEOUT_MS 100
#define MAX_TIMEOUT_MS 10000
/* The agent refuses more (src/agent/capture/protocol.ts, MAX_PASSWORD_BYTES). */
#define MAX_PASSWORD_BYTES 1024
/* The agent's limit is 256 characters; in UTF-8 and escaped that fits here. */
#define MAX_JSON_ACCOUNT 2048
/* Built with -fvisibility=hidden: only PAM's entry points leave the module (not the socket client). */
#define PWSYNC_EXPORT __attribute__((visibility("default")))

struct options {
  const char *socket_path;
  const char *missed_path; /* NULL: off */
  const char *source;
  const char *agent_user; /* NULL: the owner of the socket's directory */
  int timeout_ms;
  int debug;
};

static void parse_options(pam_handle_t *pamh, int argc, const char **argv, struct options *o) {
  o->socket_path = DEFAULT_SOCKET;
  o->missed_path = DEFAULT_MISSED;
  o->source = NULL;
  o->agent_user = NULL;
  o->timeout_ms = DEFAULT_TIMEOUT_MS;
  o->debug = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "socket=", 7) == 0 && a[7] != '\0') {
      o->socket_path = a + 7;
    } else if (strncmp(a, "missed=", 7) == 0) {
      o->missed_path = a[7] == '\0' ? NULL : a + 7;
    } else if (strncmp(a, "source=", 7) == 0 && a[7] != '\0') {
      o->source = a + 7;
    } else if (strncmp(a, "user=", 5) == 0 && a[5] != '\0') {
      o->agent_user = a + 5;
    } else if (strncmp(a, "timeout=", 8) == 0) {
      char *end = NULL;
      errno = 0;
      long ms = strtol(a + 8, &end, 10);
      if (errno != 0 || end == a + 8 || *end != '\0') {
        pam_syslog(pamh, LOG_ERR, "pwsync: ignoring a bad option \"%s\" (timeout=MS wanted)", a);
        continue;
      }
      if (ms < MIN_TIMEOUT_MS) ms = MIN_TIMEOUT_MS;
      if (ms > MAX_TIMEOUT_MS) ms = MAX_TIMEOUT_MS;
      o->timeout_ms = (int)ms;
    } else if (strcmp(a, "debug") == 0) {
      o->debug = 1;
    } else {
      pam_syslog(pamh, LOG_ERR, "pwsync: ignoring an unknown option \"%s\"", a);
    }
  }
}

static long long epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `text` as a JSON string; bytes that are not UTF-8 or are control characters become '?'. */
static void json_sanitized(char *out, size_t out_size, const char *text) {
  if (pwsync_json_string(out, out_size, text) >= 0) return;
  char copy[512];
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)text; *s != '\0' && n < sizeof copy - 1; s++) {
    copy[n++] = (*s >= 0x20 && *s < 0x7f) ? (char)*s : '?';
  }
  copy[n] = '\0';
  if (pwsync_json_string(out, out_size, copy) < 0) snprintf(out, out_size, "\"?\"");
}

/*
 * Appends one line to the missed file, so that the change is reported by the agent (7050) rather
 * than lost in silence. No password: the account, the time, the source and why.
 *
 * The agent takes the file by renaming it away and then reading it. A line written into the old
 * file after the agent read it would be lost, so after writing, this checks that the file it
 * wrote is still the one at the path, and writes the line again into the new one if not: a line
 * may be reported twice in that race, but never lost.
 */
static void record_missed(pam_handle_t *pamh, const struct options *o, const char *user, const char *reason) {
  if (o->missed_path == NULL) return;
  char account[MAX_JSON_ACCOUNT];
  char why[1200];
  char source[160];
  json_sanitized(account, sizeof account, user);
  json_sanitized(why, sizeof why, reason);
  source[0] = '\0';
  if (o->source != NULL) {
    char quoted[140];
    json_sanitized(quoted, sizeof quoted, o->source);
    snprintf(source, sizeof source, ",\"source\":%s", quoted);
  }
  char line[4096];
  int length = snprintf(line, sizeof line, "{\"account\":%s,\"at\":%lld%s,\"reason\":%s}\n", account, epoch_ms(), source, why);
  if (length < 0 || (size_t)length >= sizeof line) return;

  /* The directory's owner (the agent's user) must be able to read and take the file. */
  char dir_buf[PATH_MAX];
  snprintf(dir_buf, sizeof dir_buf, "%s", o->missed_path);
  struct stat dir;
  if (stat(dirname(dir_buf), &dir) != 0 || !S_ISDIR(dir.st_mode)) return; /* not set up here: skip */

  for (int attempt = 0; attempt < 3; attempt++) {
    /*
     * Only a file this call made (O_EXCL) is handed to the directory's owner. A file already there
     * (root's or the owner's) is appended to as it is: a root-owned file in the agent's directory
     * may be a hard link to one of root's (an old /etc/shadow keeps one link once its original name
     * is replaced), and handing it over would give its contents away.
     */
    int created = 1;
    int fd = open(o->missed_path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0 && errno == EEXIST) {
      created = 0;
      /* O_NONBLOCK: a FIFO planted at the path must not hold up the change (and is refused below). */
      fd = open(o->missed_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd < 0 && errno == ENOENT) continue; /* taken away by the agent meanwhile: make it again */
    }
    if (fd < 0) {
      pam_syslog(pamh, LOG_ERR, "pwsync: cannot record the missed change of %s in %s: %s", user, o->missed_path, strerror(errno));
      return;
    }
    struct stat st;
    /* A regular file with one name: not something planted to be written through. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != 0 && st.st_uid != dir.st_uid)) {
      pam_syslog(pamh, LOG_ERR, "pwsync: not recording the missed change of %s: %s is not a regular file with one link owned by root or its directory's owner", user, o->missed_path);
      close(fd);
      return;
    }
    if (created && st.st_uid != dir.st_uid && fchown(fd, dir.st_uid, dir.st_gid) != 0) {
      pam_syslog(pamh, LOG_ERR, "pwsync: cannot give %s to the owner of its directory: %s", o->missed_path, strerror(errno));
    }
    ssize_t written = write(fd, line, (size_t)length);
    int saved = errno;
    struct stat now;
    int same = written == length && lstat(o->missed_path, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev;
    close(fd);
    if (written != length) {
      pam_syslog(pamh, LOG_ERR, "pwsync: cannot record the missed change of %s in %s: %s", user, o->missed_path, written < 0 ? strerror(saved) : "short write");
      return;
    }
    if (same) return;
  }
}

static void not_forwarded(pam_handle_t *pamh, const struct options *o, const char *user, const char *reason) {
  pam_syslog(pamh, LOG_WARNING, "pwsync: password change of %s NOT forwarded: %s", user, reason);
  record_missed(pamh, o, user, reason);
}

static int forward_change(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  if (flags & PAM_PRELIM_CHECK) return PAM_IGNORE;
  if (!(flags & PAM_UPDATE_AUTHTOK)) return PAM_IGNORE;
  struct options o;
  parse_options(pamh, argc, argv, &o);

  const void *item = NULL;
  const char *user = NULL;
  if (pam_get_item(pamh, PAM_USER, &item) == PAM_SUCCESS) user = item;
  if (user == NULL || user[0] == '\0') {
    pam_syslog(pamh, LOG_WARNING, "pwsync: a password change NOT forwarded: PAM_USER is not set");
    return PAM_IGNORE;
  }
  const char *password = NULL;
  item = NULL;
  if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS) password = item;
  if (password == NULL || password[0] == '\0') {
    not_forwarded(pamh, &o, user, "no new password in PAM_AUTHTOK (is pam_pwsync after the module that sets it?)");
    return PAM_IGNORE;
  }
  size_t length = strlen(password);
  if (length > MAX_PASSWORD_BYTES) {
    not_forwarded(pamh, &o, user, "the password is longer than 1024 bytes, the agent's limit");
    return PAM_IGNORE;
  }

  char account[MAX_JSON_ACCOUNT];
  if (pwsync_json_string(account, sizeof account, user) < 0) {
    not_forwarded(pamh, &o, user, "the user name is not valid UTF-8 or too long");
    return PAM_IGNORE;
  }
  char source[160];
  source[0] = '\0';
  if (o.source != NULL) {
    char quoted[140];
    if (pwsync_json_string(quoted, sizeof quoted, o.source) < 0) {
      not_forwarded(pamh, &o, user, "the module's source= is not valid UTF-8 or too long");
      return PAM_IGNORE;
    }
    snprintf(source, sizeof source, ",\"source\":%s", quoted);
  }
  char header[MAX_JSON_ACCOUNT + 256];
  snprintf(header, sizeof header, "{\"v\":1,\"account\":%s%s,\"changedAt\":%lld,\"length\":%zu}", account, source, epoch_ms(), length);

  char reason[1100];
  struct pwsync_capture_peer peer;
  char why[1000];
  if (pwsync_capture_trust(o.socket_path, o.agent_user, &peer, why, sizeof why) != 0) {
    snprintf(reason, sizeof reason, "%s; nothing sent", why);
    not_forwarded(pamh, &o, user, reason);
    return PAM_IGNORE;
  }
  if (o.debug) pam_syslog(pamh, LOG_DEBUG, "pwsync: handing the change of %s to %s (timeout %d ms)", user, o.socket_path, o.timeout_ms);
  char answer[1024];
  enum pwsync_capture_result result =
      pwsync_capture_send(o.socket_path, &peer, header, (const unsigned char *)password, length, o.timeout_ms, answer, sizeof answer);
  switch (result) {
    case PWSYNC_CAPTURE_ANSWERED:
      if (pwsync_capture_answer_ok(answer)) {
        if (strstr(answer, "\"status\":\"out-of-scope\"") != NULL) {
          pam_syslog(pamh, LOG_INFO, "pwsync: password change of %s not forwarded, out of the agent's scope: %s", user, answer);
        } else {
          pam_syslog(pamh, LOG_INFO, "pwsync: password change of %s queued by the agent: %s", user, answer);
        }
        return PAM_IGNORE;
      }
      snprintf(reason, sizeof reason, "the agent refused it: %s", answer);
      break;
    case PWSYNC_CAPTURE_UNREACHABLE:
      snprintf(reason, sizeof reason, "the agent is not reachable (%s)", answer);
      break;
    case PWSYNC_CAPTURE_UNTRUSTED:
      snprintf(reason, sizeof reason, "not the agent: %s", answer);
      break;
    case PWSYNC_CAPTURE_TIMEOUT:
      /* The agent may still take it after this; the missed line then reports one that was not. */
      snprintf(reason, sizeof reason, "the agent did not answer in time (%s)", answer);
      break;
    case PWSYNC_CAPTURE_FAILED:
    default:
      snprintf(reason, sizeof reason, "%s", answer);
      break;
  }
  not_forwarded(pamh, &o, user, reason);
  return PAM_IGNORE;
}

/*
 * No core dump while the module handles the password. The process is the host's (passwd, chpasswd,
 * sshd, login), which holds the password in pam_unix and in PAM_AUTHTOK before and after this call
 * whatever the module does; the module does not change the host's settings for good: it makes the
 * process non-dumpable and its core limit 0 for the time it holds its own copies (the header, the
 * socket buffers), then puts back what was there. Only the soft limit is lowered: a hard limit
 * lowered in a process that is not root could never be raised again, and would reach every program
 * a login session starts. A previous "dumpable" of 2 (suid_dumpable) cannot be set back through
 * prctl; the process then stays non-dumpable, the stricter state.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

struct dump_state {
  int dumpable;         /* PR_GET_DUMPABLE before, or -1 */
  int limit_saved;      /* whether `limit` holds the previous RLIMIT_CORE */
  struct rlimit limit;
};

static void no_dump_begin(struct dump_state *saved) {
  saved->dumpable = prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L);
  saved->limit_saved = getrlimit(RLIMIT_CORE, &saved->limit) == 0;
  if (saved->limit_saved) {
    struct rlimit none = {0, saved->limit.rlim_max};
    (void)setrlimit(RLIMIT_CORE, &none);
  }
  (void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
}

static void no_dump_end(const struct dump_state *saved) {
  if (saved->dumpable == 1) (void)prctl(PR_SET_DUMPABLE, 1L, 0L, 0L, 0L);
  if (saved->limit_saved) (void)setrlimit(RLIMIT_CORE, &saved->limit);
}

PWSYNC_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  struct dump_state saved;
  no_dump_begin(&saved);
  int result = forward_change(pamh, flags, argc, argv);
  no_dump_end(&saved);
  return result;
}

/* The module belongs in the password stack only; elsewhere it has nothing to say. */
PWSYNC_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh, (void)flags, (void)argc, (void)argv;
  return PAM_IGNORE;
}

PWSYNC_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh, (void)flags, (void)argc, (void)argv;
  return PAM_IGNORE;
}

PWSYNC_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh, (void)flags, (void)argc, (void)argv;
  return PAM_IGNORE;
}

PWSYNC_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh, (void)flags, (void)argc, (void)argv;
  return PAM_IGNORE;
}

PWSYNC_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh, (void)flags, (void)argc, (void)argv;
  return PAM_IGNORE;
}
