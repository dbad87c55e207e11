"""A ch06 submission that passes every visible test but pools with a reshape.

Its max pooling reshapes (N, C, H, W) into non-overlapping size x size blocks, which is right for
the chapter's 4x4 example (stride = size, sizes divisible) but cannot handle overlapping windows
(stride < size) or inputs the windows do not tile; the hidden tests try both.
"""
WRONG = {
    "max_pool_forward": '''def max_pool_forward(x, size=2, stride=2):
    N, C, H, W = x.shape
    return x.reshape(N, C, H // size, size, W // size, size).max(axis=(3, 5))
''',
}
