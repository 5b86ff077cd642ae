/* console.h: the few lines a boot leaves on the serial console, which
 * GetConsoleOutput shows without SSH.  Every line starts with "haboot:" and
 * fits CONSOLE_WIDTH columns; a long message is wrapped, never cut. */
#ifndef HABOOT_CONSOLE_H
#define HABOOT_CONSOLE_H

#include "util.h"

#define CONSOLE_DEFAULT "/dev/console"
#define CONSOLE_WIDTH 100

/* Appends msg to b as "haboot: ..." lines of at most CONSOLE_WIDTH columns,
 * broken between words; continuation lines are indented. */
void console_wrap(struct buf *b, const char *msg);
/* Writes text to HABOOT_CONSOLE, else /dev/console.  No console (a
 * container, a test) is normal: the report is in the log and status file. */
void console_write(const char *text);

#endif
