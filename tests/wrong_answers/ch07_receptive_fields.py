"""A ch07 submission that passes every visible test but forgets dilation.

Its recurrence adds (k - 1) * j instead of d * (k - 1) * j. The visible tests use only d = 1; the
hidden tests include dilated stacks, so only the receptive-field task loses its points.
"""
WRONG = {
    "receptive_field": '''def receptive_field(layers):
    r, j = 1, 1
    for k, s, d in layers:
        r += (k - 1) * j
        j *= s
    return r
''',
}
