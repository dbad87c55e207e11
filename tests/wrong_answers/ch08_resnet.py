"""A ch08 submission that passes every visible test but hard-codes the stride of option A.

Its shortcut always keeps every second pixel (x[:, :, ::2, ::2]), which is right for the visible
stride-2 example but wrong for the hidden tests' stride 1 and stride 3 units. Its other tasks are
correct, so it earns partial marks.
"""
WRONG = {
    "shortcut_option_a": '''def shortcut_option_a(x, out_channels, stride):
    sub = x[:, :, ::2, ::2]
    pad = np.zeros((sub.shape[0], out_channels - sub.shape[1]) + sub.shape[2:])
    return np.concatenate([sub, pad], axis=1)
''',
}
