/*
 * The agent's capture socket, from C: one frame (a JSON header line, then exactly `length` bytes
 * of payload) and one answer line, within a deadline. Used by the PAM module and the Samba hook;
 * the protocol is in docs/agent.md ("The capture socket protocol").
 */
#ifndef PWSYNC_CAPTURE_CLIENT_H
#define PWSYNC_CAPTURE_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

/* What pwsync_capture_send returns. */
enum pwsync_capture_result {
  PWSYNC_CAPTURE_ANSWERED = 0,    /* `answer` holds the agent's answer line (JSON, no newline) */
  PWSYNC_CAPTURE_UNREACHABLE = 1, /* no agent listens on the socket (or it refused us) */
  PWSYNC_CAPTURE_TIMEOUT = 2,     /* the deadline passed before the answer line was read */
  PWSYNC_CAPTURE_FAILED = 3,      /* anything else; `answer` holds a message */
  PWSYNC_CAPTURE_UNTRUSTED = 4    /* the listener is not root or the agent's user: nothing was sent */
};

/* Who may listen at the socket: the listener's uid (SO_PEERCRED) must be one of `uids`. */
struct pwsync_capture_peer {
  uid_t uids[2];
  size_t count;
};

/*
 * Whether the socket at `socket_path` may be given a password, checked before connecting: its
 * directory (symbolic links resolved) must be owned by root or the agent's user and writable by
 * neither its group nor others, so that no one else can put a socket there. `agent_user` is the
 * agent's user name; NULL takes the directory's owner for it, and then only when the directory's
 * parent is root's and writable by no one else (so that only root can have made the directory).
 * Fills `peer` with root and the agent's uid, for pwsync_capture_send. Returns 0, or -1 with the
 * reason in `why`.
 */
int pwsync_capture_trust(const char *socket_path, const char *agent_user, struct pwsync_capture_peer *peer,
                         char *why, size_t why_size);

/*
 * Sends `header_json` (one JSON object, no newline), `\n`, then `payload`, to the Unix socket at
 * `socket_path`, and reads the answer line into `answer` (NUL-terminated, truncated to fit).
 * Before the first byte is written, the listener's uid (SO_PEERCRED) must be one of `peer`'s:
 * otherwise nothing is sent (PWSYNC_CAPTURE_UNTRUSTED). Gives up after `timeout_ms` in all.
 * Never writes the payload anywhere but the socket.
 */
enum pwsync_capture_result pwsync_capture_send(const char *socket_path, const struct pwsync_capture_peer *peer,
                                               const char *header_json, const unsigned char *payload,
                                               size_t length, int timeout_ms, char *answer, size_t answer_size);

/*
 * Writes `text` as a JSON string literal (quotes included) into `out`. Returns the length written,
 * or -1 when it does not fit or `text` is not valid UTF-8.
 */
int pwsync_json_string(char *out, size_t out_size, const char *text);

/* Whether an answer line says the change was taken: `{"ok":true,...`. */
int pwsync_capture_answer_ok(const char *answer);

#endif
