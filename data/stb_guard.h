// stb_guard.h: refuses, before stb_image sees them, the inputs that the stb_image of Debian's
// libstb-dev (stb_image v2.27) mishandles. See stb_guard.c.
#ifndef NN_STB_GUARD_H
#define NN_STB_GUARD_H

#include <stddef.h>
#include <stdint.h>

// 0 when the bytes are safe to hand to stb_image (which may still refuse them), -1 with the
// reason in why (len bytes) when they would trip a known stb bug. JPEGs never reach stb
// (data/jpeg.c decodes them with libjpeg-turbo), so only the other formats are checked.
int stb_guard_check(const uint8_t *buf, size_t n, char *why, size_t len);

#endif
