/* console.c: the boot's summary on the serial console. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define PREFIX "haboot: "
#define CONT   "haboot:   "

void
console_wrap(struct buf *b, const char *msg)
{
	const char *p = msg;
	bool first = true;

	while (*p != '\0') {
		const char *prefix = first ? PREFIX : CONT;
		size_t room = CONSOLE_WIDTH - strlen(prefix), n = strcspn(p, "\n");

		if (n > room) {
			/* Break at the last space that fits; a word longer than the line
			 * (a path, an ARN) is broken where the line ends. */
			size_t cut = room;

			while (cut > 0 && p[cut] != ' ')
				cut--;
			n = cut > 0 ? cut : room;
		}
		buf_adds(b, prefix);
		buf_add(b, p, n);
		buf_addc(b, '\n');
		p += n;
		while (*p == ' ' || *p == '\n')
			p++;
		first = false;
	}
}

void
console_write(const char *text)
{
	const char *path = getenv("HABOOT_CONSOLE");
	int fd, flags = O_WRONLY | O_NOCTTY | O_NONBLOCK | O_APPEND | O_CLOEXEC;
	size_t len = strlen(text);

	if (path == NULL || *path == '\0')
		path = CONSOLE_DEFAULT;
	else
		flags |= O_CREAT;
	if ((fd = open(path, flags, 0644)) < 0) {
		log_debug("haboot", "no console report: cannot open %s: %s", path, strerror(errno));
		return;
	}
	if (write(fd, text, len) != (ssize_t)len)
		log_debug("haboot", "console report to %s cut short: %s", path, strerror(errno));
	close(fd);
}
