/* See capture-client.h. */
#define _GNU_SOURCE
#include "capture-client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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

enum pwsync_capture_result pwsync_capture_send(const char *socket_path, const char *header_json,
                                               const unsigned char *payload, size_t length,
                                               int timeout_ms, char *answer, size_t answer_size) {
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
