/*
 * The agent's capture socket, from C: one frame (a JSON header line, then exactly `length` bytes
 * of payload) and one answer line, within a deadline. Used by the PAM module and the Samba hook;
 * the protocol is in docs/agent.md ("The capture socket protocol").
 */
#ifndef PWSYNC_CAPTURE_CLIENT_H
#define PWSYNC_CAPTURE_CLIENT_H

#include <stddef.h>

/* What pwsync_capture_send returns. */
enum pwsync_capture_result {
  PWSYNC_CAPTURE_ANSWERED = 0,    /* `answer` holds the agent's answer line (JSON, no newline) */
  PWSYNC_CAPTURE_UNREACHABLE = 1, /* no agent listens on the socket (or it refused us) */
  PWSYNC_CAPTURE_TIMEOUT = 2,     /* the deadline passed before the answer line was read */
  PWSYNC_CAPTURE_FAILED = 3       /* anything else; `answer` holds a message */
};

/*
 * Sends `header_json` (one JSON object, no newline), `\n`, then `payload`, to the Unix socket at
 * `socket_path`, and reads the answer line into `answer` (NUL-terminated, truncated to fit).
 * Gives up after `timeout_ms` in all. Never writes the payload anywhere but the socket.
 */
enum pwsync_capture_result pwsync_capture_send(const char *socket_path, const char *header_json,
                                               const unsigned char *payload, size_t length,
                                               int timeout_ms, char *answer, size_t answer_size);

/*
 * Writes `text` as a JSON string literal (quotes included) into `out`. Returns the length written,
 * or -1 when it does not fit or `text` is not valid UTF-8.
 */
int pwsync_json_string(char *out, size_t out_size, const char *text);

/* Whether an answer line says the change was taken: `{"ok":true,...`. */
int pwsync_capture_answer_ok(const char *answer);

#endif
