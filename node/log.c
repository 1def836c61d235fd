/* Structured log records (log.h): formatting into a fixed stack buffer. */
#include "log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <wchar.h>

/* Room kept at the end of every line for the truncation pair. */
#define TRUNCATED_PAIR " truncated=true"

/* The body of a line ends here, leaving room for TRUNCATED_PAIR and '\n'. */
#define BODY_MAX (NODE_LOG_LINE_MAX - 1 - (sizeof TRUNCATED_PAIR - 1))

static enum node_log_level log_level = NODE_LOG_INFO;
static node_log_clock_fn log_clock;     /* NULL: default_clock */
static void *log_clock_data;
static FILE *log_out;                   /* NULL: stderr */

static uint64_t default_clock(void *data)
{
    struct timespec ts;
    (void)data;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void node_log_set_level(enum node_log_level level)
{
    if ((int)level < (int)NODE_LOG_DEBUG) {
        level = NODE_LOG_DEBUG;
    } else if ((int)level > (int)NODE_LOG_ERROR) {
        level = NODE_LOG_ERROR;
    }
    log_level = level;
}

enum node_log_level node_log_get_level(void)
{
    return log_level;
}

bool node_log_enabled(enum node_log_level level)
{
    return (int)level >= (int)log_level;
}

void node_log_set_clock(node_log_clock_fn fn, void *data)
{
    log_clock = fn;
    log_clock_data = data;
}

void node_log_set_output(FILE *out)
{
    log_out = out;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *node_log_level_name(enum node_log_level level)
{
    if ((int)level < (int)NODE_LOG_DEBUG || (int)level > (int)NODE_LOG_ERROR) {
        return "?";
    }
    return level_names[level];
}

int node_log_level_parse(const char *name, enum node_log_level *level)
{
    for (int i = NODE_LOG_DEBUG; i <= NODE_LOG_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum node_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * The line being built
 * ---------------------------------------------------------------------- */

struct line {
    char buf[NODE_LOG_LINE_MAX];
    size_t len;
    bool truncated; /* something was cut: nothing more goes in */
};

static void put_raw(struct line *l, const char *s, size_t n)
{
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Whether @s (@n bytes) must be written in quotes. */
static bool needs_quotes(const char *s, size_t n)
{
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
            return true;
        }
    }
    return false;
}

/* The escaped form of byte @c inside quotes, written to @out (room for 6);
 * returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
        case '"':
        case '\\':
            out[0] = '\\';
            out[1] = (char)c;
            return 2;
        case '\n':
            memcpy(out, "\\n", 2);
            return 2;
        case '\r':
            memcpy(out, "\\r", 2);
            return 2;
        case '\t':
            memcpy(out, "\\t", 2);
            return 2;
        default:
            break;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0xf];
        return 6;
    }
    out[0] = (char)c;
    return 1;
}

/* How many bytes the UTF-8 sequence led by @c claims (1 for anything that
 * does not lead a multi-byte sequence). */
static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xc0 && c <= 0xdf) {
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf7) {
        return 4;
    }
    return 1;
}

/* Length of @s (@n bytes) once quoted and escaped, quotes included. */
static size_t quoted_len(const char *s, size_t n)
{
    char esc[6];
    size_t total = 2;
    for (size_t i = 0; i < n; i++) {
        total += escape_byte((unsigned char)s[i], esc);
    }
    return total;
}

/*
 * Append " key=value" (or "key=value" when @key_sep is false). The value is
 * quoted when @force_quotes or when it needs quotes; when it does not fit
 * it is quoted, cut at a character boundary, closed with
 * NODE_LOG_TRUNCATED and the line is marked truncated.
 */
static void put_pair(struct line *l, const char *key, const char *s, size_t n,
                     bool force_quotes)
{
    size_t klen = strlen(key);
    size_t head = 1 + klen + 1; /* " key=" */
    size_t tail = 1 + (sizeof NODE_LOG_TRUNCATED - 1) + 1; /* '"' ... '"' */
    char esc[6];
    bool quote;
    size_t i;

    if (l->truncated) {
        return;
    }
    if (l->len + head + tail > BODY_MAX) {
        l->truncated = true;
        return;
    }
    put_raw(l, " ", 1);
    put_raw(l, key, klen);
    put_raw(l, "=", 1);

    quote = force_quotes || needs_quotes(s, n);
    if (!quote && l->len + n <= BODY_MAX) {
        put_raw(l, s, n);
        return;
    }
    if (quote && l->len + quoted_len(s, n) <= BODY_MAX) {
        put_raw(l, "\"", 1);
        for (i = 0; i < n; i++) {
            put_raw(l, esc, escape_byte((unsigned char)s[i], esc));
        }
        put_raw(l, "\"", 1);
        return;
    }

    /* It does not fit: cut it, keeping room for the marker and the quote. */
    put_raw(l, "\"", 1);
    for (i = 0; i < n;) {
        size_t seq = utf8_seq_len((unsigned char)s[i]);
        size_t need = 0;
        if (seq > n - i) {
            seq = n - i;
        }
        for (size_t j = 0; j < seq; j++) {
            need += escape_byte((unsigned char)s[i + j], esc);
        }
        if (l->len + need + (tail - 1) > BODY_MAX) {
            break;
        }
        for (size_t j = 0; j < seq; j++) {
            put_raw(l, esc, escape_byte((unsigned char)s[i + j], esc));
        }
        i += seq;
    }
    put_raw(l, NODE_LOG_TRUNCATED "\"", sizeof NODE_LOG_TRUNCATED);
    l->truncated = true;
}

/* Append the time @ns (since the epoch) as 2026-11-22T04:46:00.123Z. */
static void put_time(struct line *l, uint64_t ns)
{
    uint64_t secs = ns / 1000000000u;
    unsigned ms = (unsigned)((ns / 1000000u) % 1000u);
    uint64_t days = secs / 86400u;
    unsigned sod = (unsigned)(secs % 86400u);
    /* Days to civil date (H. Hinnant, "chrono-Compatible Low-Level Date
     * Algorithms"), for days since 1970-01-01 >= 0. */
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u;
    uint64_t doe = z - era * 146097u;
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint64_t y = yoe + era * 400u;
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint64_t mp = (5u * doy + 2u) / 153u;
    unsigned d = (unsigned)(doy - (153u * mp + 2u) / 5u + 1u);
    unsigned m = (unsigned)(mp < 10u ? mp + 3u : mp - 9u);
    int n;
    if (m <= 2) {
        y++;
    }
    n = snprintf(l->buf + l->len, sizeof l->buf - l->len,
                 "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y, m, d,
                 sod / 3600u, sod / 60u % 60u, sod % 60u, ms);
    if (n > 0) {
        l->len += (size_t)n;
    }
}

/* ------------------------------------------------------------------------
 * Formatting one part of the format string
 * ---------------------------------------------------------------------- */

/* Where text is formatted before it is quoted into the line. */
struct scratch {
    char buf[NODE_LOG_LINE_MAX];
    size_t len;
    bool cut; /* the text did not fit */
};

static void scratch_putc(struct scratch *sc, char c)
{
    if (sc->len + 1 < sizeof sc->buf) {
        sc->buf[sc->len++] = c;
    } else {
        sc->cut = true;
    }
}

/* Account for snprintf's result @n after writing at sc->buf + sc->len. */
static void scratch_advance(struct scratch *sc, int n)
{
    size_t room = sizeof sc->buf - sc->len;
    if (n < 0) {
        return;
    }
    if ((size_t)n >= room) {
        sc->len = sizeof sc->buf - 1;
        sc->cut = true;
    } else {
        sc->len += (size_t)n;
    }
}

enum length_mod { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z,
                  LEN_T, LEN_BIG_L };

/* Append @v to @spec (room for @size bytes) at *sl, if it fits. */
static void spec_put_int(char *spec, size_t size, size_t *sl, long v)
{
    int n = snprintf(spec + *sl, size - *sl, "%ld", v);
    if (n > 0 && (size_t)n < size - *sl) {
        *sl += (size_t)n;
    }
}

/*
 * Format [f, end) of a printf format string into @sc, taking the arguments
 * of its conversions from @ap in order. The format string was checked by
 * the compiler against the arguments (node_log's format attribute); each
 * conversion is handed to snprintf on its own with the argument of its
 * type, so the arguments are consumed exactly as vsnprintf would.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format_part(const char *f, const char *end, va_list *ap,
                        struct scratch *sc)
{
    while (f < end) {
        char spec[64];
        size_t sl = 0;
        enum length_mod len = LEN_NONE;
        char *out;
        size_t room;
        char conv;

        if (*f != '%') {
            scratch_putc(sc, *f++);
            continue;
        }
        f++;
        if (f < end && *f == '%') {
            scratch_putc(sc, '%');
            f++;
            continue;
        }
        spec[sl++] = '%';
        while (f < end && strchr("-+ #0'", *f) != NULL && *f != '\0') {
            if (sl < 16) {
                spec[sl++] = *f;
            }
            f++;
        }
        if (f < end && *f == '*') {
            int w = va_arg(*ap, int);
            long lw = w;
            f++;
            if (lw < 0) {
                spec[sl++] = '-';
                lw = -lw;
            }
            spec_put_int(spec, sizeof spec, &sl, lw);
        } else {
            while (f < end && *f >= '0' && *f <= '9') {
                if (sl < 32) {
                    spec[sl++] = *f;
                }
                f++;
            }
        }
        if (f < end && *f == '.') {
            f++;
            if (f < end && *f == '*') {
                int p = va_arg(*ap, int);
                f++;
                if (p >= 0) { /* a negative precision means none */
                    spec[sl++] = '.';
                    spec_put_int(spec, sizeof spec, &sl, p);
                }
            } else {
                spec[sl++] = '.';
                while (f < end && *f >= '0' && *f <= '9') {
                    if (sl < 48) {
                        spec[sl++] = *f;
                    }
                    f++;
                }
            }
        }
        if (f < end) {
            switch (*f) {
                case 'h':
                    len = LEN_H;
                    spec[sl++] = *f++;
                    if (f < end && *f == 'h') {
                        len = LEN_HH;
                        spec[sl++] = *f++;
                    }
                    break;
                case 'l':
                    len = LEN_L;
                    spec[sl++] = *f++;
                    if (f < end && *f == 'l') {
                        len = LEN_LL;
                        spec[sl++] = *f++;
                    }
                    break;
                case 'q':
                    len = LEN_LL;
                    spec[sl++] = *f++;
                    break;
                case 'j':
                    len = LEN_J;
                    spec[sl++] = *f++;
                    break;
                case 'z':
                case 'Z':
                    len = LEN_Z;
                    spec[sl++] = *f++;
                    break;
                case 't':
                    len = LEN_T;
                    spec[sl++] = *f++;
                    break;
                case 'L':
                    len = LEN_BIG_L;
                    spec[sl++] = *f++;
                    break;
                default:
                    break;
            }
        }
        if (f >= end) {
            return; /* a lone '%' at the end: nothing to convert */
        }
        conv = *f++;
        spec[sl++] = conv;
        spec[sl] = '\0';
        out = sc->buf + sc->len;
        room = sizeof sc->buf - sc->len;

        switch (conv) {
            case 'd':
            case 'i':
                switch (len) {
                    case LEN_L:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, long)));
                        break;
                    case LEN_LL:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, long long)));
                        break;
                    case LEN_J:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, intmax_t)));
                        break;
                    case LEN_Z:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, ssize_t)));
                        break;
                    case LEN_T:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, ptrdiff_t)));
                        break;
                    default:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, int)));
                        break;
                }
                break;
            case 'o':
            case 'u':
            case 'x':
            case 'X':
                switch (len) {
                    case LEN_L:
                        scratch_advance(
                            sc, snprintf(out, room, spec,
                                         va_arg(*ap, unsigned long)));
                        break;
                    case LEN_LL:
                        scratch_advance(
                            sc, snprintf(out, room, spec,
                                         va_arg(*ap, unsigned long long)));
                        break;
                    case LEN_J:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, uintmax_t)));
                        break;
                    case LEN_Z:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, size_t)));
                        break;
                    case LEN_T:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, ptrdiff_t)));
                        break;
                    default:
                        scratch_advance(sc, snprintf(out, room, spec,
                                                     va_arg(*ap, unsigned)));
                        break;
                }
                break;
            case 'C': /* glibc: %lc */
                len = LEN_L;
                __attribute__((fallthrough));
            case 'c':
                if (len == LEN_L) {
                    scratch_advance(sc, snprintf(out, room, spec,
                                                 va_arg(*ap, wint_t)));
                } else {
                    scratch_advance(sc, snprintf(out, room, spec,
                                                 va_arg(*ap, int)));
                }
                break;
            case 'S': /* glibc: %ls */
                len = LEN_L;
                __attribute__((fallthrough));
            case 's':
                if (len == LEN_L) {
                    scratch_advance(sc,
                                    snprintf(out, room, spec,
                                             va_arg(*ap, const wchar_t *)));
                } else {
                    scratch_advance(sc, snprintf(out, room, spec,
                                                 va_arg(*ap, const char *)));
                }
                break;
            case 'p':
                scratch_advance(sc, snprintf(out, room, spec,
                                             va_arg(*ap, void *)));
                break;
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G':
            case 'a':
            case 'A':
                if (len == LEN_BIG_L) {
                    scratch_advance(sc, snprintf(out, room, spec,
                                                 va_arg(*ap, long double)));
                } else {
                    scratch_advance(sc, snprintf(out, room, spec,
                                                 va_arg(*ap, double)));
                }
                break;
            case 'm': /* glibc: strerror(errno), no argument */
                scratch_advance(sc, snprintf(out, room, spec, 0));
                break;
            case 'n': /* never written to: take the pointer, print nothing */
                (void)va_arg(*ap, void *);
                break;
            default:
                /* Unknown to us (the compiler would have warned): stop,
                 * since its argument's type is unknown. */
                return;
        }
    }
}
#pragma GCC diagnostic pop

/* ------------------------------------------------------------------------
 * Splitting the format string into the message and the pairs
 * ---------------------------------------------------------------------- */

static bool is_key_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* Skip the conversion spec at @f (which points at '%'); returns the first
 * byte after it. */
static const char *skip_spec(const char *f)
{
    f++;
    if (*f == '%') {
        return f + 1;
    }
    while (*f != '\0' && strchr("-+ #0'*.0123456789hlqjzZtL", *f) != NULL) {
        f++;
    }
    return *f != '\0' ? f + 1 : f;
}

/* If a pair (" key=%conv") starts at @f (a space), the length of its key;
 * otherwise 0. */
static size_t pair_at(const char *f)
{
    size_t k = 1;
    if (f[0] != ' ' || !is_key_start(f[1])) {
        return 0;
    }
    while (is_key_char(f[k])) {
        k++;
    }
    if (f[k] != '=' || f[k + 1] != '%' || f[k + 2] == '%' ||
        f[k + 2] == '\0') {
        return 0;
    }
    return k - 1;
}

/* The start of the next pair at or after @f, or the end of the string. */
static const char *next_pair(const char *f)
{
    while (*f != '\0') {
        if (*f == '%') {
            f = skip_spec(f);
        } else if (pair_at(f) > 0) {
            return f;
        } else {
            f++;
        }
    }
    return f;
}

void node_log(enum node_log_level level, const char *comp, const char *group,
              const char *fmt, ...)
{
    struct line l;
    struct scratch sc;
    node_log_clock_fn clock_fn = log_clock != NULL ? log_clock : default_clock;
    FILE *out = log_out != NULL ? log_out : stderr;
    const char *f;
    const char *stop;
    va_list ap;

    if (!node_log_enabled(level)) {
        return;
    }
    l.len = 0;
    l.truncated = false;
    put_time(&l, clock_fn(log_clock_data));
    put_raw(&l, " level=", 7);
    put_raw(&l, node_log_level_name(level),
            strlen(node_log_level_name(level)));
    if (comp == NULL) {
        comp = "-";
    }
    put_pair(&l, "comp", comp, strlen(comp), false);
    if (group != NULL) {
        put_pair(&l, "group", group, strlen(group), false);
    }

    va_start(ap, fmt);
    stop = next_pair(fmt);
    sc.len = 0;
    sc.cut = false;
    format_part(fmt, stop, &ap, &sc);
    put_pair(&l, "msg", sc.buf, sc.len, true);
    if (sc.cut) {
        l.truncated = true;
    }
    f = stop;
    while (*f != '\0' && !l.truncated) {
        char key[64];
        size_t klen = pair_at(f);
        const char *value = f + 1 + klen + 1;
        if (klen >= sizeof key) {
            klen = sizeof key - 1;
        }
        memcpy(key, f + 1, klen);
        key[klen] = '\0';
        stop = next_pair(value);
        sc.len = 0;
        sc.cut = false;
        format_part(value, stop, &ap, &sc);
        put_pair(&l, key, sc.buf, sc.len, false);
        if (sc.cut) {
            l.truncated = true;
        }
        f = stop;
    }
    va_end(ap);

    if (l.truncated) {
        put_raw(&l, TRUNCATED_PAIR, sizeof TRUNCATED_PAIR - 1);
    }
    put_raw(&l, "\n", 1);
    fwrite(l.buf, 1, l.len, out);
    fflush(out);
}
