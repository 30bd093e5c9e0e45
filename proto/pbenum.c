/* pbenum: see pbenum.h. */
#include "pbenum.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"

/* The prefix every value of 'd' carries, "VIF_MODE_": the longest
 * common to all its names (the zero value's too), up to and with its last
 * '_'.  The words are what follows it.  From the names, not the enum's
 * own name, since some enums shorten it (EventType's EVENT_HOST_UP). */
static size_t
pbenum_prefix_len(const ProtobufCEnumDescriptor *d)
{
    const char *first = d->n_values ? d->values[0].name : "";
    size_t n = strlen(first);

    for (unsigned i = 1; i < d->n_values; i++) {
        const char *name = d->values[i].name;
        size_t k = 0;

        while (k < n && name[k] == first[k]) {
            k++;
        }
        n = k;
    }
    while (n > 0 && first[n - 1] != '_') {
        n--;
    }
    return n;
}

static void
pbenum_format(const char *name, size_t skip, char *buf, size_t size)
{
    size_t i = 0;

    if (strlen(name) < skip) {
        skip = 0;
    }
    for (const char *p = name + skip; *p && i + 1 < size; p++) {
        buf[i++] = *p == '_' ? '-' : (char) tolower((unsigned char) *p);
    }
    buf[size ? i : 0] = '\0';
}

const char *
pbenum_word(const ProtobufCEnumDescriptor *d, int value, char *buf,
            size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d,
                                                                       value);

    if (!size) {
        return buf;
    }
    buf[0] = '\0';
    if (v) {
        pbenum_format(v->name, pbenum_prefix_len(d), buf, size);
    }
    return buf;
}

int
pbenum_parse(const ProtobufCEnumDescriptor *d, const char *word,
             int *valuep, struct fx_err *err)
{
    size_t skip = pbenum_prefix_len(d);
    char buf[64], list[256], what[64];
    size_t used = 0, n = 0;

    list[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];

        if (v->value == 0) {
            continue;
        }
        pbenum_format(v->name, skip, buf, sizeof buf);
        if (!strcmp(buf, word)) {
            *valuep = v->value;
            return 0;
        }
        if (used < sizeof list) {
            used += (size_t) snprintf(list + used, sizeof list - used,
                                      "%s%s", used ? ", " : "", buf);
        }
    }
    /* The enum's name as words too: "MigrationPhase", "migration phase". */
    for (const char *p = d->short_name; *p && n + 2 < sizeof what; p++) {
        if (p != d->short_name && isupper((unsigned char) *p)) {
            what[n++] = ' ';
        }
        what[n++] = (char) tolower((unsigned char) *p);
    }
    what[n] = '\0';
    return fx_err_set(err, -EINVAL, "unknown %s '%s': use %s", what, word,
                      list);
}
