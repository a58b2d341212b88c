/*
 * kubecost_flexera.domain._cbi_rows: the 8 CSV rows of each allocation item, written in one pass.
 *
 * The format's rules are stated in docs/compatibility.md (GO-CSV-1 to GO-CSV-7); kubecost_flexera/domain/cbi_csv.py
 * is the module the rest of the code uses, and this file is its inner loop. In CPython the same work took two thirds
 * of a day export's CPU (a call or an object per column); here it is one walk over each item's fields into one
 * buffer (docs/design-decisions.md, "The row formatter is compiled").
 *
 * Built against the stable ABI (Py_LIMITED_API 3.11): one abi3 binary serves CPython 3.11 here and 3.13 on Lambda.
 * Compiled with -ffp-contract=off, so that every cost is the same IEEE operations, in the same order, as Go's.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#define ROWS_PER_ITEM 8
#define USAGE_PIECES (2 * ROWS_PER_ITEM)
#define N_PROPERTIES 8
#define N_COSTS 8
#define N_AMOUNTS 6

/* ------------------------------------------------------------------------------------------------------------ */
/* A growing byte buffer.                                                                                        */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buffer;

static int buffer_reserve(Buffer *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buffer_put(Buffer *b, const char *s, Py_ssize_t n) {
    if (buffer_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static int buffer_putc(Buffer *b, char c) { return buffer_put(b, &c, 1); }

static void buffer_free(Buffer *b) {
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* UTF-8 text of a str (None is empty).                                                                          */

static const char *ENCODING_ERRORS = "cbi-go-replace"; /* registered by cbi_csv.py: lone surrogates -> U+FFFD */

typedef struct {
    const char *s;
    Py_ssize_t n;
    PyObject *owner; /* the bytes holding s when the str had to be re-encoded, else NULL */
} Text;

static int text_of(PyObject *value, Text *t, const char *what) {
    t->owner = NULL;
    if (value == Py_None) {
        t->s = "";
        t->n = 0;
        return 0;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None", what);
        return -1;
    }
    t->s = PyUnicode_AsUTF8AndSize(value, &t->n);
    if (t->s != NULL) {
        return 0;
    }
    /* A lone surrogate (a JSON escape Go decodes as U+FFFD): UTF-8 cannot hold it. */
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        return -1;
    }
    PyErr_Clear();
    t->owner = PyUnicode_AsEncodedString(value, "utf-8", ENCODING_ERRORS);
    if (t->owner == NULL) {
        return -1;
    }
    if (PyBytes_AsStringAndSize(t->owner, (char **)&t->s, &t->n) < 0) {
        Py_CLEAR(t->owner);
        return -1;
    }
    return 0;
}

static void text_release(Text *t) { Py_CLEAR(t->owner); }

/* ------------------------------------------------------------------------------------------------------------ */
/* Go encoding/csv quoting.                                                                                      */

/* unicode.IsSpace: what makes Go quote a field by its first character (not U+001C..U+001F, unlike str.isspace). */
static int is_go_space(Py_UCS4 c) {
    switch (c) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* A comma, quote, CR or LF: each makes Go quote the field. */
static int needs_quotes(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ',' || c == '"' || c == '\n' || c == '\r') {
            return 1;
        }
    }
    return 0;
}

/* The field, quoted only when Go quotes it: the exact field \. , a comma, quote, CR or LF, or a leading space. */
static int put_field(Buffer *b, PyObject *value, const char *what) {
    Text t;
    if (text_of(value, &t, what) < 0) {
        return -1;
    }
    int rc = 0;
    if (t.n == 0) {
        goto done;
    }
    int quote = (t.n == 2 && t.s[0] == '\\' && t.s[1] == '.') || needs_quotes(t.s, t.n);
    if (!quote) {
        Py_UCS4 first = PyUnicode_ReadChar(value, 0);
        if (first == (Py_UCS4)-1 && PyErr_Occurred()) {
            rc = -1;
            goto done;
        }
        quote = is_go_space(first);
    }
    if (!quote) {
        rc = buffer_put(b, t.s, t.n);
        goto done;
    }
    if (buffer_reserve(b, 2 * t.n + 2) < 0) {
        rc = -1;
        goto done;
    }
    char *out = b->data + b->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < t.n; i++) {
        if (t.s[i] == '"') {
            *out++ = '"';
        }
        *out++ = t.s[i];
    }
    *out++ = '"';
    b->len = out - b->data;
done:
    text_release(&t);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* The Labels column: Go's json.Marshal of the sorted map, then quoted as a CSV field (every '"' doubled).       */

static const char HEX[] = "0123456789abcdef";

/* The bytes put_json_string does not copy as they are: controls, '"', '\\', '<', '>', '&' and 0xE2 (which starts
 * U+2028 and U+2029). */
static const unsigned char JSON_SPECIAL[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0A] = 1, [0x0B] = 1, [0x0C] = 1, [0x0D] = 1, [0x0E] = 1, [0x0F] = 1,
    [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1A] = 1, [0x1B] = 1, [0x1C] = 1, [0x1D] = 1, [0x1E] = 1, [0x1F] = 1,
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0xE2] = 1,
};

/* A JSON string as Go writes it (short escapes for \b \f \n \r \t, \u00XX for other controls, HTML-safe < > &,
 * U+2028 and U+2029 escaped, other text raw UTF-8), each quote character doubled for the CSV field. */
static int put_json_string(Buffer *b, const Text *t) {
    /* The longest escape (\u0026 with nothing doubled) is 6 bytes for 1; quotes double to 3 ("\"\"" -> \""). */
    if (buffer_reserve(b, 6 * t->n + 4) < 0) {
        return -1;
    }
    const unsigned char *s = (const unsigned char *)t->s;
    char *out = b->data + b->len;
    *out++ = '"';
    *out++ = '"';
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Py_ssize_t plain = i;
        while (plain < t->n && !JSON_SPECIAL[s[plain]]) {
            plain++;
        }
        memcpy(out, s + i, (size_t)(plain - i)); /* the run of bytes written as they are */
        out += plain - i;
        if ((i = plain) == t->n) {
            break;
        }
        unsigned char c = s[i];
        const char *escape = NULL;
        switch (c) {
        case '"': escape = "\\\"\""; break; /* \" with the quote doubled */
        case '\\': escape = "\\\\"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        default: break;
        }
        if (escape != NULL) {
            size_t length = strlen(escape);
            memcpy(out, escape, length);
            out += length;
            continue;
        }
        if (c == 0xE2) { /* U+2028 and U+2029 are E2 80 A8 and E2 80 A9; other text from E2 on is raw */
            if (i + 2 < t->n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                memcpy(out, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                out += 6;
                i += 2;
            } else {
                *out++ = (char)c;
            }
            continue;
        }
        memcpy(out, "\\u00", 4); /* the other controls, < > & */
        out[4] = HEX[c >> 4];
        out[5] = HEX[c & 0xF];
        out += 6;
    }
    *out++ = '"';
    *out++ = '"';
    b->len = out - b->data;
    return 0;
}

static int put_json_member(Buffer *b, PyObject *key, PyObject *value) {
    Text t;
    if (text_of(key, &t, "a label name") < 0) {
        return -1;
    }
    int rc = put_json_string(b, &t);
    text_release(&t);
    if (rc < 0 || buffer_putc(b, ':') < 0) {
        return -1;
    }
    if (text_of(value, &t, "a label value") < 0) { /* None: JSON null, Go's zero value "" */
        return -1;
    }
    rc = put_json_string(b, &t);
    text_release(&t);
    return rc;
}

static int merge_labels(PyObject *merged, PyObject *labels, const char *what) {
    if (labels == Py_None) {
        return 0;
    }
    if (!PyDict_Check(labels)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict or None", what);
        return -1;
    }
    return PyDict_Update(merged, labels);
}

static PyObject *KC_LABELS[N_PROPERTIES]; /* kc-cluster ... kc-provider-id, in the property columns' order */

/* Pod labels and namespace labels merged (the later one wins), then each non-empty property as its kc-* label. */
static int put_labels(Buffer *b, PyObject *pod_labels, PyObject *namespace_labels, int override_pod_labels,
                      PyObject *const *properties) {
    PyObject *merged = PyDict_New();
    PyObject *keys = NULL;
    int rc = -1;
    if (merged == NULL) {
        return -1;
    }
    PyObject *first = override_pod_labels ? pod_labels : namespace_labels;
    PyObject *second = override_pod_labels ? namespace_labels : pod_labels;
    if (merge_labels(merged, first, "labels") < 0 || merge_labels(merged, second, "namespace labels") < 0) {
        goto done;
    }
    for (int i = 0; i < N_PROPERTIES; i++) {
        PyObject *value = properties[i];
        /* A property is a str or None: the property columns, written first, have checked. */
        if (value != Py_None && PyUnicode_GetLength(value) > 0 && PyDict_SetItem(merged, KC_LABELS[i], value) < 0) {
            goto done;
        }
    }
    Py_ssize_t count = PyDict_Size(merged);
    if (count == 0) { /* {} is the one Labels field Go does not quote */
        rc = buffer_put(b, "{}", 2);
        goto done;
    }
    /* The names sorted, then each value looked up: sorting (name, value) pairs would cost twice the comparisons. */
    keys = PyDict_Keys(merged);
    if (keys == NULL || PyList_Sort(keys) < 0 || buffer_put(b, "\"{", 2) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyList_GetItem(keys, i); /* borrowed */
        PyObject *value = key ? PyDict_GetItemWithError(merged, key) : NULL; /* borrowed */
        if (value == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "a label disappeared while it was written");
            }
            goto done;
        }
        if ((i > 0 && buffer_putc(b, ',') < 0) || put_json_member(b, key, value) < 0) {
            goto done;
        }
    }
    rc = buffer_put(b, "}\"", 2);
done:
    Py_XDECREF(keys);
    Py_DECREF(merged);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Numbers: Go's strconv.FormatFloat(x, 'f', 5, 64), which, like CPython's '%.5f', rounds the exact binary value. */

#define NUMBER_CHARS 360 /* the widest is -DBL_MAX: 309 digits, a point and 5 decimals */
#define DECIMALS_SCALE 100000u
#define EXACT_LIMIT 9007199254740992.0 /* 2^53: below it a double is an integer m < 2^53 times 2^-shift, shift >= 0 */

/* |value| < 2^53 in integer arithmetic: value * 10^5 = m * 10^5 * 2^-shift exactly, rounded half to even as Go's
 * decimal rounding and CPython's dtoa both do; q is that rounded product, below 2^70. */
static unsigned __int128 format_exact(double value, char *out) {
    int exponent;
    double fraction = frexp(fabs(value), &exponent); /* [0.5, 1) * 2^exponent, or 0 */
    uint64_t m = (uint64_t)ldexp(fraction, 53);
    int shift = 53 - exponent;
    unsigned __int128 q = (unsigned __int128)m * DECIMALS_SCALE;
    if (shift >= 72) { /* q < 2^70 is then below half a unit */
        q = 0;
    } else if (shift > 0) {
        unsigned __int128 unit = (unsigned __int128)1 << shift;
        unsigned __int128 rest = q & (unit - 1);
        q >>= shift;
        if (rest > unit / 2 || (rest == unit / 2 && (q & 1))) {
            q++;
        }
    }
    char digits[24];
    int n = 0;
    uint64_t whole = (uint64_t)(q / DECIMALS_SCALE);
    unsigned decimals = (unsigned)(q % DECIMALS_SCALE);
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole > 0);
    if (signbit(value)) {
        *out++ = '-';
    }
    while (n > 0) {
        *out++ = digits[--n];
    }
    *out++ = '.';
    for (int i = 4; i >= 0; i--) {
        out[i] = (char)('0' + decimals % 10);
        decimals /= 10;
    }
    out[5] = '\0';
    return q;
}

/* The text of value and, unless printed is NULL, the value that text reads back as (what a reader of the file adds
 * up). */
static int format_number(double value, char *out, double *printed) {
    if (!isfinite(value)) {
        strcpy(out, isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf");
        if (printed != NULL) {
            *printed = value;
        }
        return 0;
    }
    if (fabs(value) < EXACT_LIMIT) {
        unsigned __int128 q = format_exact(value, out);
        if (printed != NULL && q < ((unsigned __int128)1 << 53)) {
            /* q and 10^5 exact doubles: IEEE division rounds as reading the text back does */
            double magnitude = (double)q / (double)DECIMALS_SCALE;
            *printed = signbit(value) ? -magnitude : magnitude;
            return 0;
        }
    } else {
        char *text = PyOS_double_to_string(value, 'f', 5, 0, NULL);
        if (text == NULL) {
            return -1;
        }
        size_t n = strlen(text);
        if (n >= NUMBER_CHARS) {
            PyMem_Free(text);
            PyErr_SetString(PyExc_OverflowError, "a number is too long to format");
            return -1;
        }
        memcpy(out, text, n + 1);
        PyMem_Free(text);
    }
    if (printed == NULL) {
        return 0;
    }
    *printed = PyOS_string_to_double(out, NULL, NULL);
    return (*printed == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* A number field of the item; None (missing, or null: Kubecost's NaN) is 0, as Go decodes it. */
static int number_of(PyObject *value, double *out) {
    if (value == Py_None) {
        *out = 0.0;
        return 0;
    }
    *out = PyFloat_AsDouble(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Items.                                                                                                        */

enum {
    A_NAME, A_PROPERTIES, A_WINDOW, A_START, A_END,
    A_MINUTES, A_CPU_CORE_HOURS, A_CPU_COST, A_CPU_COST_ADJUSTMENT, A_GPU_HOURS, A_GPU_COST, A_GPU_COST_ADJUSTMENT,
    A_RAM_BYTE_HOURS, A_RAM_COST, A_RAM_COST_ADJUSTMENT, A_PV_BYTE_HOURS, A_PV_COST, A_PV_COST_ADJUSTMENT,
    A_NETWORK_TRANSFER_BYTES, A_NETWORK_COST, A_NETWORK_COST_ADJUSTMENT, A_SHARED_COST, A_EXTERNAL_COST,
    A_LOAD_BALANCER_COST, A_LOAD_BALANCER_COST_ADJUSTMENT,
    N_ITEM_FIELDS
};
static const char *const ITEM_FIELDS[N_ITEM_FIELDS] = {
    "name", "properties", "window", "start", "end",
    "minutes", "cpu_core_hours", "cpu_cost", "cpu_cost_adjustment", "gpu_hours", "gpu_cost", "gpu_cost_adjustment",
    "ram_byte_hours", "ram_cost", "ram_cost_adjustment", "pv_byte_hours", "pv_cost", "pv_cost_adjustment",
    "network_transfer_bytes", "network_cost", "network_cost_adjustment", "shared_cost", "external_cost",
    "load_balancer_cost", "load_balancer_cost_adjustment",
};
/* The properties in the order of their CSV columns (Cluster to ProviderID), then the two label maps. */
#define P_LABELS N_PROPERTIES
#define P_NAMESPACE_LABELS (N_PROPERTIES + 1)
#define N_PROPERTY_FIELDS (N_PROPERTIES + 2)
static const char *const PROPERTY_FIELDS[N_PROPERTY_FIELDS] = {
    "cluster", "container", "namespace", "pod", "node", "controller", "controller_kind", "provider_id",
    "labels", "namespace_labels",
};
static const char *const KC_LABEL_NAMES[N_PROPERTIES] = {
    "kc-cluster", "kc-container", "kc-namespace", "kc-pod-id", "kc-node", "kc-controller", "kc-controller-kind",
    "kc-provider-id",
};
static PyObject *ITEM_NAMES[N_ITEM_FIELDS];
static PyObject *PROPERTY_NAMES[N_PROPERTY_FIELDS];
static PyObject *WINDOW_START;

/* The attributes of obj named by names (None for each where obj is None), as new references. */
static int get_fields(PyObject *obj, PyObject *const *names, int count, PyObject **out) {
    for (int i = 0; i < count; i++) {
        out[i] = obj == Py_None ? Py_NewRef(Py_None) : PyObject_GetAttr(obj, names[i]);
        if (out[i] == NULL) {
            while (i-- > 0) {
                Py_CLEAR(out[i]);
            }
            return -1;
        }
    }
    return 0;
}

static void release_fields(PyObject **fields, int count) {
    for (int i = 0; i < count; i++) {
        Py_CLEAR(fields[i]);
    }
}

/* What every row of the day shares: UTF-8 from bytes objects the caller holds for the call. */
typedef struct {
    Text usage[USAGE_PIECES]; /* per row: ",{currency},{aggregation},{UsageType}," and ",{UsageUnit}" */
    Text invoice_month;
    double multiplier;
    int override_pod_labels;
} Day;

/* The columns an item's 8 rows share, after the UsageUnit: ",{Cluster..ProviderID},{Labels},{month},{times}\n". */
static int put_shared_columns(Buffer *b, const Day *day, PyObject *const *item, PyObject *const *props) {
    for (int i = 0; i < N_PROPERTIES; i++) {
        if (buffer_putc(b, ',') < 0) {
            return -1;
        }
        PyObject *value = props[i];
        if (i == 0 && (value == Py_None || (PyUnicode_Check(value) && PyUnicode_GetLength(value) == 0))) {
            if (buffer_put(b, "Cluster", 7) < 0) { /* an empty cluster is written "Cluster" */
                return -1;
            }
        } else if (put_field(b, value, "a property") < 0) {
            return -1;
        }
    }
    if (buffer_putc(b, ',') < 0 ||
        put_labels(b, props[P_LABELS], props[P_NAMESPACE_LABELS], day->override_pod_labels, props) < 0 ||
        buffer_putc(b, ',') < 0 || buffer_put(b, day->invoice_month.s, day->invoice_month.n) < 0) {
        return -1;
    }
    PyObject *window_start;
    if (item[A_WINDOW] == Py_None) {
        window_start = Py_NewRef(Py_None);
    } else if ((window_start = PyObject_GetAttr(item[A_WINDOW], WINDOW_START)) == NULL) {
        return -1;
    }
    PyObject *times[3] = {window_start, item[A_START], item[A_END]};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = (buffer_putc(b, ',') < 0 || put_field(b, times[i], "a time") < 0) ? -1 : 0;
    }
    Py_DECREF(window_start);
    return rc < 0 ? -1 : buffer_putc(b, '\n');
}

/* The item's 8 costs with their adjustments (none for sharedCost and externalCost: adding 0.0 would turn -0.0 into
 * 0.0, which Go does not), times the multiplier; and its 6 distinct usage amounts (the last three rows share
 * minutes). */
static int item_numbers(const Day *day, PyObject *const *item, double *costs, double *amounts) {
    static const int COST_FIELDS[N_COSTS][2] = {
        {A_CPU_COST, A_CPU_COST_ADJUSTMENT}, {A_GPU_COST, A_GPU_COST_ADJUSTMENT},
        {A_RAM_COST, A_RAM_COST_ADJUSTMENT}, {A_PV_COST, A_PV_COST_ADJUSTMENT},
        {A_NETWORK_COST, A_NETWORK_COST_ADJUSTMENT}, {A_SHARED_COST, -1},
        {A_EXTERNAL_COST, -1}, {A_LOAD_BALANCER_COST, A_LOAD_BALANCER_COST_ADJUSTMENT},
    };
    static const int AMOUNT_FIELDS[N_AMOUNTS] = {
        A_CPU_CORE_HOURS, A_GPU_HOURS, A_RAM_BYTE_HOURS, A_PV_BYTE_HOURS, A_NETWORK_TRANSFER_BYTES, A_MINUTES,
    };
    for (int i = 0; i < N_COSTS; i++) {
        double cost, adjustment;
        if (number_of(item[COST_FIELDS[i][0]], &cost) < 0) {
            return -1;
        }
        if (COST_FIELDS[i][1] >= 0) {
            if (number_of(item[COST_FIELDS[i][1]], &adjustment) < 0) {
                return -1;
            }
            cost = cost + adjustment;
        }
        costs[i] = cost * day->multiplier;
    }
    for (int i = 0; i < N_AMOUNTS; i++) {
        if (number_of(item[AMOUNT_FIELDS[i]], &amounts[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* One item's 8 rows into out; the value of each printed cost appended to printed_costs. */
static int put_item(Buffer *out, Buffer *prefix, Buffer *shared, const Day *day, PyObject *obj,
                    PyObject *printed_costs) {
    PyObject *item[N_ITEM_FIELDS];
    PyObject *props[N_PROPERTY_FIELDS];
    if (get_fields(obj, ITEM_NAMES, N_ITEM_FIELDS, item) < 0) {
        return -1;
    }
    int rc = -1;
    if (get_fields(item[A_PROPERTIES], PROPERTY_NAMES, N_PROPERTY_FIELDS, props) < 0) {
        release_fields(item, N_ITEM_FIELDS);
        return -1;
    }
    double costs[N_COSTS], amounts[N_AMOUNTS];
    char cost_text[N_COSTS][NUMBER_CHARS], amount_text[N_AMOUNTS][NUMBER_CHARS];
    prefix->len = shared->len = 0;
    if (put_field(prefix, item[A_NAME], "the name") < 0 || buffer_putc(prefix, ',') < 0 ||
        put_shared_columns(shared, day, item, props) < 0 || item_numbers(day, item, costs, amounts) < 0) {
        goto done;
    }
    for (int i = 0; i < N_COSTS; i++) {
        double printed;
        if (format_number(costs[i], cost_text[i], &printed) < 0) {
            goto done;
        }
        PyObject *number = PyFloat_FromDouble(printed);
        if (number == NULL || PyList_Append(printed_costs, number) < 0) {
            Py_XDECREF(number);
            goto done;
        }
        Py_DECREF(number);
    }
    for (int i = 0; i < N_AMOUNTS; i++) {
        if (format_number(amounts[i], amount_text[i], NULL) < 0) {
            goto done;
        }
    }
    for (int row = 0; row < ROWS_PER_ITEM; row++) {
        const char *amount = amount_text[row < N_AMOUNTS ? row : N_AMOUNTS - 1];
        const Text *usage_type = &day->usage[2 * row], *unit = &day->usage[2 * row + 1];
        if (buffer_put(out, prefix->data, prefix->len) < 0 ||
            buffer_put(out, cost_text[row], (Py_ssize_t)strlen(cost_text[row])) < 0 ||
            buffer_put(out, usage_type->s, usage_type->n) < 0 ||
            buffer_put(out, amount, (Py_ssize_t)strlen(amount)) < 0 || buffer_put(out, unit->s, unit->n) < 0 ||
            buffer_put(out, shared->data, shared->len) < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    release_fields(props, N_PROPERTY_FIELDS);
    release_fields(item, N_ITEM_FIELDS);
    return rc;
}

static int day_of(PyObject *usage_columns, Day *day) {
    if (!PyTuple_Check(usage_columns) || PyTuple_Size(usage_columns) != USAGE_PIECES) {
        PyErr_Format(PyExc_TypeError, "usage_columns must be a tuple of %d bytes", USAGE_PIECES);
        return -1;
    }
    for (int i = 0; i < USAGE_PIECES; i++) {
        Text *piece = &day->usage[i];
        if (PyBytes_AsStringAndSize(PyTuple_GetItem(usage_columns, i), (char **)&piece->s, &piece->n) < 0) {
            return -1;
        }
    }
    return 0;
}

#define HINT_BYTES_PER_ITEM 16384 /* twice an emulator item's 8 rows */

PyDoc_STRVAR(format_items_doc,
             "format_items(items, usage_columns, invoice_month, multiplier, override_pod_labels, /)\n"
             "--\n\n"
             "The UTF-8 CSV lines of items (8 per item) and the value of each printed cost, in order.");

static PyObject *format_items(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *items, *usage_columns;
    Day day = {.invoice_month.owner = NULL};
    if (!PyArg_ParseTuple(args, "O!Oy#dp:format_items", &PyList_Type, &items, &usage_columns, &day.invoice_month.s,
                          &day.invoice_month.n, &day.multiplier, &day.override_pod_labels) ||
        day_of(usage_columns, &day) < 0) {
        return NULL;
    }
    Buffer out = {0}, prefix = {0}, shared = {0};
    PyObject *printed_costs = PyList_New(0);
    PyObject *result = NULL;
    if (printed_costs == NULL) {
        goto done;
    }
    Py_ssize_t count = PyList_Size(items);
    /* Room for as many bytes per item as the last call wrote (at most HINT_BYTES_PER_ITEM, so that one huge item
     * does not make the next call huge): no copy on growth when the items are alike. */
    static Py_ssize_t bytes_per_item = 0;
    if (buffer_reserve(&out, bytes_per_item * count + 1) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GetItem(items, i); /* borrowed: held while Python code (getattr) may run */
        if (item == NULL) {
            goto done;
        }
        Py_INCREF(item);
        int rc = put_item(&out, &prefix, &shared, &day, item, printed_costs);
        Py_DECREF(item);
        if (rc < 0) {
            goto done;
        }
    }
    if (count > 0) {
        Py_ssize_t per_item = out.len / count + 1;
        bytes_per_item = per_item < HINT_BYTES_PER_ITEM ? per_item : HINT_BYTES_PER_ITEM;
    }
    PyObject *data = PyBytes_FromStringAndSize(out.data, out.len);
    if (data != NULL) {
        result = PyTuple_Pack(2, data, printed_costs);
        Py_DECREF(data);
    }
done:
    Py_XDECREF(printed_costs);
    buffer_free(&out);
    buffer_free(&prefix);
    buffer_free(&shared);
    return result;
}

PyDoc_STRVAR(quote_field_doc,
             "quote_field(field, /)\n"
             "--\n\n"
             "The field as Go's encoding/csv writes it: quoted only where Go quotes (a lone surrogate as U+FFFD).");

static PyObject *quote_field(PyObject *module, PyObject *field) {
    (void)module;
    if (!PyUnicode_Check(field)) {
        PyErr_SetString(PyExc_TypeError, "quote_field() takes a str");
        return NULL;
    }
    Buffer b = {0};
    PyObject *result = NULL;
    if (put_field(&b, field, "the field") == 0) {
        result = PyUnicode_DecodeUTF8(b.data ? b.data : "", b.len, "strict");
    }
    buffer_free(&b);
    return result;
}

static PyMethodDef METHODS[] = {
    {"format_items", format_items, METH_VARARGS, format_items_doc},
    {"quote_field", quote_field, METH_O, quote_field_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_cbi_rows", "The cbi-oi-kubecost CSV rows of allocation items, in C.", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

static int intern_all(const char *const *names, int count, PyObject **out) {
    for (int i = 0; i < count; i++) {
        if ((out[i] = PyUnicode_InternFromString(names[i])) == NULL) {
            return -1;
        }
    }
    return 0;
}

PyMODINIT_FUNC PyInit__cbi_rows(void) {
    if (intern_all(ITEM_FIELDS, N_ITEM_FIELDS, ITEM_NAMES) < 0 ||
        intern_all(PROPERTY_FIELDS, N_PROPERTY_FIELDS, PROPERTY_NAMES) < 0 ||
        intern_all(KC_LABEL_NAMES, N_PROPERTIES, KC_LABELS) < 0 ||
        (WINDOW_START = PyUnicode_InternFromString("start")) == NULL) {
        return NULL;
    }
    return PyModule_Create(&MODULE);
}
