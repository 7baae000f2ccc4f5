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
{%- for helper in helpers %}
{{ helper }}
{%- endfor %}
{%- for trap in traps %}
#if {{ trap.condition }}
/**
 * Traps into the kernel ({{ trap.arch }} `{{ trap.instruction }}`) with syscall `number` and the
 * argument registers `args`; stores the value register in `*value` and returns the status.
 */
static inline uint64_t {{ lower }}_trap(uint64_t number, const uint64_t args[{{ arg_count }}], uint64_t *value) {
{%- for declaration in trap.declarations %}
    {{ declaration }}
{%- endfor %}
    __asm__ volatile("{{ trap.instruction }}"
                     : {{ trap.outputs }}
                     : {{ trap.inputs }}
                     : {{ trap.clobbers }});
    *value = {{ trap.value }};
    return {{ trap.status }};
}
{%- if !trap.ipc.is_empty() %}

{{ trap.ipc }}
{%- endif %}
#endif
{% endfor %}
#endif /* {{ guard }} */
