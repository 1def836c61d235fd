/*
 * log.h — cairnd's structured log: one record per line on stderr.
 *
 * Overview
 * --------
 * Every record is one line of key=value fields (logfmt), always in this
 * order:
 *
 *   2026-11-22T04:46:00.123Z level=info comp=raft group=config msg="leader elected" term=3
 *
 *   - the time, UTC, with milliseconds, from the log's clock;
 *   - level: debug, info, warn or error;
 *   - comp: the component that speaks (raft, storage, client, http, node...);
 *   - group: the Raft group or bucket the record is about; left out when the
 *     caller passes NULL;
 *   - msg: the message, always in double quotes;
 *   - then the caller's key=value pairs, in the order written.
 *
 * A value that is empty or holds a space, '=', '"', '\' or a control
 * character is written in double quotes, with '"' and '\' escaped by a
 * backslash, newline, carriage return and tab as \n \r \t, and every other
 * control character as \u00XX. A quoted value is therefore a valid JSON
 * string when the text is UTF-8, and every line is one parseable record.
 *
 * Writing pairs
 * -------------
 * The format string is the message followed by the pairs, each written as a
 * space, a key ([A-Za-z_][A-Za-z0-9_.-]*), '=' and a value holding at least
 * one conversion:
 *
 *   LOG_INFO("raft", "config", "leader elected term=%llu leader=%s:%u",
 *            term, host, port);
 *
 * gives msg="leader elected" term=3 leader=10.0.0.2:7501. The first
 * " key=%" in the format string starts the pairs; everything before it is
 * the message. Each value is formatted and then quoted on its own, so a
 * value cannot break the line whatever its bytes. A pair without a
 * conversion (" role=leader") stays part of the message. The compiler checks
 * the arguments against the whole format string as for printf; %n is
 * ignored.
 *
 * Caveats
 * -------
 * - A record is at most NODE_LOG_LINE_MAX bytes, newline included. The
 *   logging path never allocates: it formats into a fixed stack buffer. A
 *   value that does not fit is cut (never inside a UTF-8 sequence or an
 *   escape), closed with NODE_LOG_TRUNCATED inside its quotes, and the
 *   record ends with the pair truncated=true; later pairs are dropped.
 * - The level, clock and output are process-wide settings. Set them at
 *   startup (or in a test's setup), before other threads may log; records
 *   themselves may be written from any thread, each with one fwrite.
 * - The default clock reads CLOCK_REALTIME; it is the only place in cairnd
 *   outside the event loop that reads the time. Tests install a fixed clock.
 */
#ifndef CAIRN_NODE_LOG_H
#define CAIRN_NODE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The longest record, in bytes, newline included. */
#define NODE_LOG_LINE_MAX 1024

/* What ends a value cut to fit the line. */
#define NODE_LOG_TRUNCATED "..."

enum node_log_level {
    NODE_LOG_DEBUG = 0,
    NODE_LOG_INFO = 1,
    NODE_LOG_WARN = 2,
    NODE_LOG_ERROR = 3,
};

/*
 * The log's clock: returns the current time in nanoseconds since the Unix
 * epoch. @data is the pointer given to node_log_set_clock().
 */
typedef uint64_t (*node_log_clock_fn)(void *data);

/* Records below @level are dropped without being formatted. The default is
 * NODE_LOG_INFO. A value outside the enum is clamped to the nearest level. */
void node_log_set_level(enum node_log_level level);

/* The current level. */
enum node_log_level node_log_get_level(void);

/* True when a record at @level would be written. */
bool node_log_enabled(enum node_log_level level);

/*
 * Read times from @fn (called with @data) from now on; NULL restores the
 * default clock (clock_gettime(CLOCK_REALTIME)). @data is borrowed until the
 * clock is replaced.
 */
void node_log_set_clock(node_log_clock_fn fn, void *data);

/*
 * Write records to @out from now on; NULL restores stderr. @out is borrowed:
 * the caller keeps it open until the output is replaced. Each record is
 * written with one fwrite and flushed.
 */
void node_log_set_output(FILE *out);

/* The name of @level ("debug", "info", "warn", "error"; "?" otherwise). */
const char *node_log_level_name(enum node_log_level level);

/*
 * Parse a level name (exactly "debug", "info", "warn" or "error") into
 * *level. Returns 0, or -1 (and leaves *level alone) for anything else.
 */
int node_log_level_parse(const char *name, enum node_log_level *level);

/*
 * Write one record at @level for component @comp (required) and group
 * @group (NULL: no group field), with the message and pairs of @fmt (see
 * "Writing pairs" above). Does nothing below the current level. Never
 * fails: output errors are ignored, overlong records are truncated.
 * Prefer the LOG_* macros, which do not evaluate the arguments below the
 * level.
 */
void node_log(enum node_log_level level, const char *comp, const char *group,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define NODE__LOG(level, comp, group, ...)                                   \
    do {                                                                     \
        if (node_log_enabled(level)) {                                       \
            node_log((level), (comp), (group), __VA_ARGS__);                 \
        }                                                                    \
    } while (0)

/* LOG_INFO(comp, group, fmt, ...): log at that level; below the current
 * level the arguments are not even evaluated. */
#define LOG_DEBUG(comp, group, ...) \
    NODE__LOG(NODE_LOG_DEBUG, comp, group, __VA_ARGS__)
#define LOG_INFO(comp, group, ...) \
    NODE__LOG(NODE_LOG_INFO, comp, group, __VA_ARGS__)
#define LOG_WARN(comp, group, ...) \
    NODE__LOG(NODE_LOG_WARN, comp, group, __VA_ARGS__)
#define LOG_ERROR(comp, group, ...) \
    NODE__LOG(NODE_LOG_ERROR, comp, group, __VA_ARGS__)

#endif /* CAIRN_NODE_LOG_H */
