/* {{ header }} */
/* Byte offsets into the {{ arch }} PerCpuData block (percpu.rs), for the kernel's entry assembly. */
{% for field in fields %}
.equ {{ field.0 }}, {{ field.1 }}
{%- endfor %}
.equ PERCPU_SIZE, {{ size }}
