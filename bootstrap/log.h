/* log.h: one line per event on stderr, text for people or JSON for machines.
 * Every line carries a layer prefix ("volume", "imds", "aws") so a reader can
 * follow one part of a run.  Secrets never reach these functions. */
#ifndef HABOOT_LOG_H
#define HABOOT_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FMT_TEXT, LOG_FMT_JSON };

void log_setup(enum log_format fmt, enum log_level min);
enum log_level log_min_level(void);
void hlog(enum log_level lvl, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(p, ...) hlog(LOG_DEBUG, (p), __VA_ARGS__)
#define log_info(p, ...) hlog(LOG_INFO, (p), __VA_ARGS__)
#define log_warn(p, ...) hlog(LOG_WARN, (p), __VA_ARGS__)
#define log_error(p, ...) hlog(LOG_ERROR, (p), __VA_ARGS__)

#endif
