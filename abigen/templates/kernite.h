/* {{ header }} */
/**
 * The {{ abi_name }} kernel ABI for C: syscall numbers, invocation labels, object types,
 * error codes, constants, flag bits and shared structures.
 */
#ifndef {{ guard }}
#define {{ guard }}

#include <stdint.h>

#define {{ prefix }}_ABI_NAME "{{ abi_name }}"
#define {{ prefix }}_ABI_VERSION_MAJOR {{ major }}
#define {{ prefix }}_ABI_VERSION_MINOR {{ minor }}
#define {{ prefix }}_ABI_FINGERPRINT UINT64_C({{ fingerprint }})
{% for section in sections %}
/* {{ section.title }} */
{%- for define in section.defines %}
/** {{ define.doc }} */
#define {{ define.name }} {{ define.value }}
{%- endfor %}
{% endfor %}
{%- for s in structs %}
/** {{ s.doc }} */
struct {{ s.name }} {
{%- for field in s.fields %}
    /** {{ field.doc }} */
    {{ field.decl }};
{%- endfor %}
};
_Static_assert(sizeof(struct {{ s.name }}) == {{ s.size }}, "{{ s.name }} must be {{ s.size }} bytes");
{% endfor %}
#endif /* {{ guard }} */
