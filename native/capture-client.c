/* See capture-client.h. */
#define _GNU_SOURCE
#include "capture-client.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on `fd` until `deadline`; 1 ready, 0 timed out, -1 error. */
static int wait_for(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, (int)left);
    if (n > 0) return 1;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

/* Writes all of `data`; 1 done, 0 timed out, -1 error. */
static int write_all(int fd, const unsigned char *data, size_t length, long long deadline) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = send(fd, data + done, length - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ready = wait_for(fd, POLLOUT, deadline);
      if (ready <= 0) return ready;
      continue;
    }
    return -1;
  }
  return 1;
}

int pwsync_capture_trust(const char *socket_path, const char *agent_user, struct pwsync_capture_peer *peer,
                         char *why, size_t why_size) {
  peer->count = 0;
  char copy[PATH_MAX];
  if (snprintf(copy, sizeof copy, "%s", socket_path) >= (int)sizeof copy) {
    snprintf(why, why_size, "the socket path is too long");
    return -1;
  }
  char dir[PATH_MAX];
  if (realpath(dirname(copy), dir) == NULL) {
    snprintf(why, why_size, "the agent is not reachable (the socket's directory: %s)", strerror(errno));
    return -1;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(why, why_size, "the agent is not reachable (%s is not a directory)", dir);
    return -1;
  }
  uid_t agent;
  if (agent_user != NULL) {
    struct passwd entry;
    struct passwd *found = NULL;
    char buffer[16384];
    int err = getpwnam_r(agent_user, &entry, buffer, sizeof buffer, &found);
    if (found == NULL) {
      snprintf(why, why_size, "the agent's user \"%s\" (user=) is not known here%s%s", agent_user, err != 0 ? ": " : "", err != 0 ? strerror(err) : "");
      return -1;
    }
    agent = entry.pw_uid;
  } else {
    /* The directory's owner stands for the agent's user only when no one but root can have made it. */
    char parent_copy[PATH_MAX];
    snprintf(parent_copy, sizeof parent_copy, "%s", dir);
    const char *parent = dirname(parent_copy);
    struct stat up;
    if (st.st_uid != 0 && (stat(parent, &up) != 0 || up.st_uid != 0 || (up.st_mode & 022) != 0)) {
      snprintf(why, why_size, "the socket's directory %s belongs to uid %u and its parent %s is not root's alone: give the agent's user (user=)", dir, (unsigned)st.st_uid, parent);
      return -1;
    }
    agent = st.st_uid;
  }
  if (st.st_uid != 0 && st.st_uid != agent) {
    snprintf(why, why_size, "the socket's directory %s belongs to uid %u, not root or the agent's user (uid %u)", dir, (unsigned)st.st_uid, (unsigned)agent);
    return -1;
  }
  if ((st.st_mode & 022) != 0) {
    snprintf(why, why_size, "the socket's directory %s is writable by %s (mode %o): anyone there could listen in the agent's place", dir,
             (st.st_mode & 002) != 0 ? "others" : "its group", (unsigned)(st.st_mode & 07777));
    return -1;
  }
  peer->uids[0] = 0;
  peer->uids[1] = agent;
  peer->count = 2;
  return 0;
}

/* Whether the process listening at `fd`'s other end runs as one of `peer`'s uids. */
static int peer_trusted(int fd, const struct pwsync_capture_peer *peer, const char *socket_path, char *answer, size_t answer_size) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    snprintf(answer, answer_size, "cannot tell who listens at %s (SO_PEERCRED: %s): nothing sent", socket_path, strerror(errno));
    return 0;
  }
  for (size_t i = 0; i < peer->count && i < sizeof peer->uids / sizeof peer->uids[0]; i++) {
    if (cred.uid == peer->uids[i]) return 1;
  }
  snprintf(answer, answer_size, "the process listening at %s runs as uid %u (pid %d), not root or the agent's user (uid %u): nothing sent", socket_path,
           (unsigned)cred.uid, (int)cred.pid, (unsigned)(peer->count > 1 ? peer->uids[1] : 0));
  return 0;
}

enum pwsync_capture_result pwsync_capture_send(const char *socket_path, const struct pwsync_capture_peer *peer,
                                               const char *header_json, const unsigned char *payload,
                                               size_t length, int timeout_ms, char *answer, size_t answer_size) {
  long long deadline = now_ms() + timeout_ms;
  if (answer_size == 0) return PWSYNC_CAPTURE_FAILED;
  answer[0] = '\0';
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(socket_path) >= sizeof addr.sun_path) {
    snprintf(answer, answer_size, "the socket path is longer than %zu bytes", sizeof addr.sun_path - 1);
    return PWSYNC_CAPTURE_FAILED;
  }
  strcpy(addr.sun_path, socket_path);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(answer, answer_size, "socket: %s", strerror(errno));
    return PWSYNC_CAPTURE_FAILED;
  }
  enum pwsync_capture_result result = PWSYNC_CAPTURE_FAILED;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (errno == EAGAIN || errno == EINPROGRESS) {
      /* The agent's backlog is full: wait for room, within the deadline. */
      int ready = wait_for(fd, POLLOUT, deadline);
      int err = 0;
      socklen_t len = sizeof err;
      if (ready == 0) {
        snprintf(answer, answer_size, "the agent did not accept the connection within %d ms", timeout_ms);
        result = PWSYNC_CAPTURE_TIMEOUT;
        goto out;
      }
      if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        snprintf(answer, answer_size, "connect %s: %s", socket_path, strerror(err != 0 ? err : errno));
        result = PWSYNC_CAPTURE_UNREACHABLE;
        goto out;
      }
    } else {
      snprintf(answer, answer_size, "connect %s: %s", socket_path, strerror(errno));
      result = (errno == ENOENT || errno == ECONNREFUSED || errno == EACCES) ? PWSYNC_CAPTURE_UNREACHABLE : PWSYNC_CAPTURE_FAILED;
      goto out;
    }
  }
  /* Connected: before a byte is written, the listener must be the agent (or root). */
  if (peer == NULL || !peer_trusted(fd, peer, socket_path, answer, answer_size)) {
    if (peer == NULL) snprintf(answer, answer_size, "no trusted peer given: nothing sent");
    result = PWSYNC_CAPTURE_UNTRUSTED;
    goto out;
  }

  int written = write_all(fd, (const unsigned char *)header_json, strlen(header_json), deadline);
  if (written == 1) written = write_all(fd, (const unsigned char *)"\n", 1, deadline);
  if (written == 1) written = write_all(fd, payload, length, deadline);
  if (written != 1) {
    if (written == 0) {
      snprintf(answer, answer_size, "the agent did not take the change within %d ms", timeout_ms);
      result = PWSYNC_CAPTURE_TIMEOUT;
    } else {
      snprintf(answer, answer_size, "write: %s", strerror(errno));
    }
    goto out;
  }
  shutdown(fd, SHUT_WR);

  size_t filled = 0;
  for (;;) {
    ssize_t n = recv(fd, answer + filled, answer_size - 1 - filled, 0);
    if (n > 0) {
      filled += (size_t)n;
      answer[filled] = '\0';
      char *newline = memchr(answer, '\n', filled);
      if (newline != NULL) {
        *newline = '\0';
        result = PWSYNC_CAPTURE_ANSWERED;
        goto out;
      }
      if (filled == answer_size - 1) {
        result = PWSYNC_CAPTURE_ANSWERED; /* truncated: what fits */
        goto out;
      }
      continue;
    }
    if (n == 0) {
      snprintf(answer, answer_size, "the agent closed the connection without an answer");
      goto out;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int ready = wait_for(fd, POLLIN, deadline);
      if (ready == 0) {
        snprintf(answer, answer_size, "the agent did not answer within %d ms", timeout_ms);
        result = PWSYNC_CAPTURE_TIMEOUT;
        goto out;
      }
      if (ready < 0) {
        snprintf(answer, answer_size, "poll: %s", strerror(errno));
        goto out;
      }
      continue;
    }
    snprintf(answer, answer_size, "read: %s", strerror(errno));
    goto out;
  }
out:
  close(fd);
  return result;
}

/* The length of the UTF-8 sequence at `s`, or 0 when it is not a valid one. */
static size_t utf8_sequence(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || (n == 2 && s[0] < 0xc2) || s[0] > 0xf4) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
  }
  return n;
}

int pwsync_json_string(char *out, size_t out_size, const char *text) {
  size_t o = 0;
  const unsigned char *s = (const unsigned char *)text;
#define PUT(c)                           \
  do {                                   \
    if (o + 1 >= out_size) return -1;    \
    out[o++] = (char)(c);                \
  } while (0)
  PUT('"');
  while (*s != '\0') {
    if (*s == '"' || *s == '\\') {
      PUT('\\');
      PUT(*s++);
    } else if (*s < 0x20) {
      if (o + 7 >= out_size) return -1;
      o += (size_t)snprintf(out + o, out_size - o, "\\u%04x", *s++);
    } else {
      size_t n = utf8_sequence(s);
      if (n == 0) return -1;
      for (size_t i = 0; i < n; i++) PUT(*s++);
    }
  }
  PUT('"');
#undef PUT
  out[o] = '\0';
  return (int)o;
}

int pwsync_capture_answer_ok(const char *answer) {
  return strncmp(answer, "{\"ok\":true", 10) == 0;
}
