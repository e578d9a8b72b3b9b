#include "escape.h"

#include <stdio.h>

const char *duet_escape(const char *s, size_t max, char *buf, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; s[i] && i < max && k + 5 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *named = ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n" : ch == '\\' ? "\\\\" : NULL;
        if (named)
            k += (size_t)snprintf(buf + k, n - k, "%s", named);
        else if (ch < 0x20 || ch == 0x7f)
            k += (size_t)snprintf(buf + k, n - k, "\\x%02X", ch);
        else
            buf[k++] = (char)ch;
    }
    if (n) buf[k < n ? k : n - 1] = '\0';
    return buf;
}
